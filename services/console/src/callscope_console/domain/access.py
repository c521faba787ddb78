"""Who may use the console and what they may see.

Users come from configuration (a YAML document: token -> user, role, queues). A `supervisor`
sees only the calls and alerts of their queues; an `admin` sees every queue. The gateway applies
these checks to every request and every streamed event, not only in the page.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

Role = Literal["supervisor", "admin"]
ROLES: tuple[Role, ...] = ("supervisor", "admin")
MIN_TOKEN_LENGTH = 12


class UsersConfigError(ValueError):
    """The users configuration is malformed; the message says where."""


@dataclass(frozen=True)
class ConsoleUser:
    name: str
    role: Role
    queues: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def sees_queue(self, queue: str) -> bool:
        return self.is_admin or queue in self.queues

    def visible_queues(self, wanted: Iterable[str] = ()) -> list[str] | None:
        """The queues to ask upstream for: None means every queue (admin, no filter).

        Raises PermissionError when a supervisor asks for a queue that is not theirs."""
        wanted = [q for q in wanted if q]
        if self.is_admin:
            return sorted(set(wanted)) or None
        foreign = [q for q in wanted if q not in self.queues]
        if foreign:
            raise PermissionError(f"not your queue: {', '.join(sorted(foreign))}")
        return sorted(set(wanted) or self.queues)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class UserDirectory:
    """Tokens to users. Tokens are kept only as SHA-256 digests and compared in constant time."""

    def __init__(self, users: Mapping[str, ConsoleUser]) -> None:
        self._by_digest = {_digest(token): user for token, user in users.items()}

    def __len__(self) -> int:
        return len(self._by_digest)

    def authenticate(self, token: str | None) -> ConsoleUser | None:
        if not token:
            return None
        digest = _digest(token)
        found = None
        for known, user in self._by_digest.items():
            if hmac.compare_digest(known, digest):
                found = user
        return found

    @classmethod
    def from_document(cls, document: Any, source: str = "users") -> UserDirectory:
        """`{"users": [{"token", "user", "role", "queues"}...]}` or the list alone."""
        entries = document.get("users") if isinstance(document, dict) else document
        if not isinstance(entries, list) or not entries:
            raise UsersConfigError(f"{source}: expected a non-empty list under 'users'")
        users: dict[str, ConsoleUser] = {}
        for index, entry in enumerate(entries):
            where = f"{source}: users[{index}]"
            if not isinstance(entry, dict):
                raise UsersConfigError(f"{where}: expected a mapping")
            token = str(entry.get("token") or "")
            name = str(entry.get("user") or "").strip()
            role = entry.get("role")
            queues = entry.get("queues") or []
            if len(token) < MIN_TOKEN_LENGTH:
                raise UsersConfigError(f"{where}: token must be at least {MIN_TOKEN_LENGTH} chars")
            if token in users:
                raise UsersConfigError(f"{where}: the same token is given twice")
            if not name:
                raise UsersConfigError(f"{where}: 'user' is required")
            if role not in ROLES:
                raise UsersConfigError(f"{where}: role must be one of {', '.join(ROLES)}")
            if not isinstance(queues, list) or not all(isinstance(q, str) for q in queues):
                raise UsersConfigError(f"{where}: 'queues' must be a list of queue names")
            if role == "supervisor" and not queues:
                raise UsersConfigError(f"{where}: a supervisor needs at least one queue")
            users[token] = ConsoleUser(name, role, frozenset(queues))
        return cls(users)

    @classmethod
    def from_yaml(cls, text: str, source: str = "users") -> UserDirectory:
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise UsersConfigError(f"{source}: not valid YAML: {exc}") from None
        return cls.from_document(document, source)

    @classmethod
    def from_file(cls, path: Path) -> UserDirectory:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsersConfigError(f"cannot read users file {path}: {exc.strerror}") from None
        return cls.from_yaml(text, str(path))
