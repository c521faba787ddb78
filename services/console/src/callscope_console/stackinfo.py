"""`python -m callscope_console.stackinfo [DIR]`: where the local stack's console is and how to
sign in (for `make demo`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from callscope_core import stack as local_stack

from .domain.access import UserDirectory


def describe(directory: Path) -> str:
    state = local_stack.status(directory)
    endpoints = state.get("endpoints") or {}
    url, users_file = endpoints.get("console_url"), endpoints.get("console_users")
    if state.get("state") != "ready" or not url:
        return "the supervisor console is not running (callscope stack up)"
    import yaml

    document = yaml.safe_load(Path(users_file).read_text(encoding="utf-8"))
    UserDirectory.from_document(document, users_file)  # refuse a malformed file here too
    lines = [f"Supervisor console: {url}  (sign-in tokens in {users_file})"]
    for entry in document["users"]:
        queues = ", ".join(entry.get("queues") or []) or "every queue"
        lines.append(f"  {entry['user']:20} {entry['role']:10} {queues:14} token {entry['token']}")
    return "\n".join(lines)


def main() -> None:
    directory = Path(
        sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CALLSCOPE_HOME", ".callscope")
    )
    print(describe(directory))


if __name__ == "__main__":
    main()
