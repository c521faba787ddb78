"""The access audit log as a hash chain: each entry's hash covers its content and the hash of
the entry before it, so editing or deleting any entry breaks every hash after it.

hash(n) = sha256(prev_hash(n) | canonical JSON of (seq, at, actor, action, subject, details)).
A cut tail (the newest entries deleted) leaves a valid chain; an anchor kept elsewhere (an
earlier head: seq and hash) detects that too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def timestamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def entry_hash(
    prev_hash: str, seq: int, at: datetime, actor: str, action: str, subject: str, details: str
) -> str:
    body = canonical_json(
        {
            "seq": seq,
            "at": timestamp(at),
            "actor": actor,
            "action": action,
            "subject": subject,
            "details": details,
        }
    )
    return hashlib.sha256(f"{prev_hash}|{body}".encode()).hexdigest()


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    details: str  # canonical JSON, stored as text so the hashed bytes are the stored bytes
    prev_hash: str
    hash: str


@dataclass
class Verification:
    entries: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_chain(
    records: Iterable[AuditRecord], anchor: tuple[int, str] | None = None
) -> Verification:
    result = Verification()
    expected_seq = 1
    prev_hash = GENESIS
    anchor_seen = anchor is None or anchor[0] <= 0
    for record in records:
        result.entries += 1
        if record.seq != expected_seq:
            missing = (
                f"{expected_seq}"
                if record.seq == expected_seq + 1
                else f"{expected_seq}..{record.seq - 1}"
            )
            result.problems.append(
                f"entry {missing} missing: deleted (chain jumps to {record.seq})"
                if record.seq > expected_seq
                else f"entry {record.seq} out of order or duplicated"
            )
        if record.prev_hash != prev_hash:
            result.problems.append(
                f"entry {record.seq}: prev_hash does not match the entry before it"
                " (an entry before it was edited, deleted or inserted)"
            )
        recomputed = entry_hash(
            record.prev_hash,
            record.seq,
            record.at,
            record.actor,
            record.action,
            record.subject,
            record.details,
        )
        if recomputed != record.hash:
            result.problems.append(f"entry {record.seq}: content does not match its hash (edited)")
        if anchor is not None and record.seq == anchor[0]:
            anchor_seen = True
            if record.hash != anchor[1]:
                result.problems.append(
                    f"entry {record.seq}: hash differs from the anchor kept outside the database"
                )
        prev_hash = record.hash
        expected_seq = record.seq + 1
        result.head_seq = record.seq
        result.head_hash = record.hash
    if not anchor_seen:
        assert anchor is not None
        result.problems.append(
            f"the log ends at entry {result.head_seq} but the anchor names entry {anchor[0]}:"
            " entries were deleted from the end"
        )
    return result
