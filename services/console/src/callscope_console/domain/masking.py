"""Customer numbers are shown masked: enough to tell two callers apart, not to call them."""

from __future__ import annotations

import re

MASK = "•"
_SIP_USER = re.compile(r"^(?:sips?|tel):([^@;]+)", re.IGNORECASE)


def mask_number(raw: str) -> str:
    """'sip:+33612345678@pstn.example' -> '+33•••••••78'. Keeps a leading '+', the first two
    and the last two digits; anything shorter than 6 digits is masked entirely."""
    raw = (raw or "").strip()
    if not raw:
        return ""
    match = _SIP_USER.match(raw)
    user = match.group(1) if match else raw.split("@", 1)[0]
    plus = "+" if user.startswith("+") else ""
    digits = re.sub(r"\D", "", user)
    if not digits:
        # Not a number (an anonymous or named caller): show no part of it.
        return MASK * 4
    if len(digits) < 6:
        return plus + MASK * len(digits)
    return plus + digits[:2] + MASK * (len(digits) - 4) + digits[-2:]
