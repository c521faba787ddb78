"""Users from configuration, queue visibility, number masking and language choice."""

from __future__ import annotations

from pathlib import Path

import pytest

from callscope_console.domain.access import UserDirectory, UsersConfigError
from callscope_console.domain.masking import mask_number
from callscope_console.domain.texts import TEXTS, pick_language

USERS = """
users:
  - {token: billing-token-123, user: bea, role: supervisor, queues: [billing]}
  - {token: support-token-456, user: sam, role: supervisor, queues: [support, sales]}
  - {token: admin-token-789xx, user: ada, role: admin}
"""


def test_tokens_map_to_users_and_unknown_tokens_to_nobody() -> None:
    users = UserDirectory.from_yaml(USERS)
    bea = users.authenticate("billing-token-123")
    assert bea is not None and bea.name == "bea" and bea.queues == {"billing"}
    assert users.authenticate("billing-token-12") is None
    assert users.authenticate("") is None and users.authenticate(None) is None
    assert len(users) == 3


def test_a_supervisor_sees_only_their_queues_an_admin_every_queue() -> None:
    users = UserDirectory.from_yaml(USERS)
    sam, ada = users.authenticate("support-token-456"), users.authenticate("admin-token-789xx")
    assert sam is not None and ada is not None
    assert sam.sees_queue("sales") and not sam.sees_queue("billing")
    assert sam.visible_queues() == ["sales", "support"]
    assert sam.visible_queues(["support"]) == ["support"]
    with pytest.raises(PermissionError, match="billing"):
        sam.visible_queues(["billing"])
    assert ada.sees_queue("anything") and ada.visible_queues() is None
    assert ada.visible_queues(["billing"]) == ["billing"]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("users: []", "non-empty list"),
        ("users: [{token: short, user: x, role: admin}]", "at least 12"),
        ("users: [{token: long-enough-token, role: admin}]", "'user' is required"),
        ("users: [{token: long-enough-token, user: x, role: boss}]", "role must be"),
        ("users: [{token: long-enough-token, user: x, role: supervisor}]", "at least one queue"),
        ("users: [{token: long-enough-token, user: x, role: supervisor, queues: b}]", "list"),
        (
            "users: [{token: long-enough-token, user: x, role: admin},"
            " {token: long-enough-token, user: y, role: admin}]",
            "twice",
        ),
        ("users: [oops", "not valid YAML"),
    ],
)
def test_malformed_users_are_refused_with_the_reason(document: str, message: str) -> None:
    with pytest.raises(UsersConfigError, match=message):
        UserDirectory.from_yaml(document)


def test_a_missing_users_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(UsersConfigError, match=r"nope\.yaml"):
        UserDirectory.from_file(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("sip:+33612345678@pstn.example", "+33•••••••78"),
        ("+33612345678", "+33•••••••78"),
        ("tel:0612345678", "06••••••78"),
        ("sip:anonymous@anonymous.invalid", "••••"),
        ("1234", "••••"),
        ("", ""),
    ],
)
def test_customer_numbers_are_masked(raw: str, masked: str) -> None:
    assert mask_number(raw) == masked


def test_language_from_cookie_then_accept_language() -> None:
    assert pick_language("fr", "en-US") == "fr"
    assert pick_language(None, "de-DE,fr;q=0.8,en;q=0.5") == "fr"
    assert pick_language(None, "en;q=0.4, fr-CA;q=0.9") == "fr"
    assert pick_language("xx", "de") == "en"
    assert TEXTS["en"].keys() == TEXTS["fr"].keys()
