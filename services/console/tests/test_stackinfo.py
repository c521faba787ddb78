"""The local stack's console users file and the sign-in hint `make demo` prints."""

from __future__ import annotations

import stat
from pathlib import Path

from callscope_console.domain.access import UserDirectory
from callscope_core.stack import write_console_users


def test_the_stack_writes_private_random_tokens_once(tmp_path: Path) -> None:
    path = write_console_users(tmp_path / "console-users.yaml")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    users = UserDirectory.from_file(path)
    assert len(users) == 3
    write_console_users(path)
    assert path.read_text() == text  # kept: tokens survive a restart of the stack
    other = write_console_users(tmp_path / "other.yaml").read_text()
    assert other != text  # random per stack
