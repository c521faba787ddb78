"""Who a call belongs to: normalized keys for customers (phone numbers, SIP AORs) and agents.

`sip:+33 6 12-34-56-78@pstn.example;user=phone`, `tel:+33612345678` and `+33612345678` all give
`+33612345678`; a non-numeric user keeps its domain
(`sip:Alice@Example.com` -> `alice@example.com`).
A national number (`0612345678`) is kept as written: without the country it cannot be made E.164.
"""

from __future__ import annotations

import hashlib
import re

_SCHEMES = ("sips:", "sip:", "tel:")
_SEPARATORS = re.compile(r"[\s\-.()/]")
_PHONE = re.compile(r"\+?\d{3,}")


class SubjectError(ValueError):
    pass


def party_key(identifier: str) -> str:
    """The normalized key of a customer or agent identifier (empty when there is none)."""
    text = identifier.strip().strip("<>").strip()
    lower = text.lower()
    for scheme in _SCHEMES:
        if lower.startswith(scheme):
            text = text[len(scheme) :]
            break
    text = text.split(";", 1)[0].split("?", 1)[0]
    user, _, domain = text.partition("@")
    compact = _SEPARATORS.sub("", user)
    if _PHONE.fullmatch(compact):
        return compact
    return f"{user}@{domain}".lower() if domain else user.strip().lower()


def customer_key(identifier: str) -> str:
    key = party_key(identifier)
    if not key:
        raise SubjectError("a customer is a phone number, a SIP address or a customer id")
    return key


def subject_hash(key: str) -> str:
    """What proof reports and the audit log keep instead of the person's identifier."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()
