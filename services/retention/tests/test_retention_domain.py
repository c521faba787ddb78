"""Pure retention domain logic: policy sets, schedules, subjects, erasure decisions, the audit
hash chain. No I/O; time is a parameter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callscope_retention.domain.audit import GENESIS, AuditRecord, entry_hash, verify_chain
from callscope_retention.domain.cron import CronError, CronSchedule
from callscope_retention.domain.erasure import CallData, decide
from callscope_retention.domain.policy import PolicyError
from callscope_retention.domain.policyset import PolicySet, RecordingFacts, recompute
from callscope_retention.domain.subjects import SubjectError, customer_key, party_key

STORED = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
POLICY = PolicySet.from_document(
    {
        "rules": [
            {
                "tenant": "*",
                "queue": "*",
                "periods_days": {"proof": 1825, "quality": 183, "analytics": 365},
                "default_purposes": ["quality", "analytics"],
            },
            {
                "tenant": "bank",
                "queue": "*",
                "periods_days": {"proof": 3650, "quality": 90},
                "default_purposes": ["proof"],
            },
            {
                "tenant": "bank",
                "queue": "sales",
                "periods_days": {"proof": 2555, "quality": 30},
                "default_purposes": ["proof", "quality"],
            },
        ]
    },
    1,
)


def test_the_most_specific_rule_wins() -> None:
    assert POLICY.rule_for("bank", "sales").policy.periods  # exact
    assert POLICY.purposes_for("bank", "sales", []) == ["proof", "quality"]
    assert POLICY.purposes_for("bank", "support", []) == ["proof"]
    assert POLICY.purposes_for("shop", "sales", []) == ["quality", "analytics"]
    assert POLICY.purposes_for("shop", "x", ["analytics", "marketing"]) == ["analytics"]


def test_each_data_kind_lives_as_long_as_the_longest_purpose_using_it() -> None:
    plan = POLICY.plan("shop", "support", ["quality", "analytics"], STORED)
    assert plan.item_expiry == {
        "recording": STORED + 183 * DAY,  # analytics does not use the audio
        "transcript": STORED + 365 * DAY,
        "analysis": STORED + 365 * DAY,
    }
    assert plan.lock_until is None and plan.expires_at == STORED + 365 * DAY
    proof = POLICY.plan("bank", "sales", ["proof", "quality"], STORED)
    assert proof.item_expiry["recording"] == STORED + 2555 * DAY
    assert proof.item_expiry["analysis"] == STORED + 30 * DAY  # proof does not need it
    assert proof.lock_until == STORED + 2555 * DAY
    # Data no purpose uses is due at once; an ended purpose keeps nothing.
    only_proof = POLICY.plan("bank", "x", ["proof"], STORED)
    assert only_proof.item_expiry["analysis"] == STORED
    ended = POLICY.plan("shop", "x", ["quality", "analytics"], STORED, ended={"analytics": STORED})
    assert ended.item_expiry["transcript"] == STORED + 183 * DAY


def test_policy_documents_roundtrip_and_are_validated() -> None:
    again = PolicySet.from_document(POLICY.to_document(), 2)
    assert again.to_document() == POLICY.to_document()
    assert PolicySet.parse(POLICY.to_json(), 3).rule_for("bank", "sales").default_purposes
    with pytest.raises(PolicyError, match="two rules for tenant bank queue sales"):
        PolicySet.from_document(
            {"rules": [*POLICY.to_document()["rules"], POLICY.to_document()["rules"][2]]}, 4
        )
    with pytest.raises(PolicyError, match="unknown policy keys: rule"):
        PolicySet.from_document({"rule": []}, 4)


def test_recompute_reports_before_applying() -> None:
    facts = [
        RecordingFacts(
            "c1",
            "shop",
            "support",
            ("quality",),
            STORED,
            {k: STORED + 183 * DAY for k in ("recording", "transcript", "analysis")},
        ),
        RecordingFacts(
            "c2",
            "bank",
            "sales",
            ("proof",),
            STORED,
            {"recording": STORED + 2555 * DAY, "transcript": STORED + 2555 * DAY},
            lock_confirmed=STORED + 2555 * DAY,
        ),
    ]
    shorter = PolicySet.from_document(
        {
            "rules": [
                {
                    "tenant": "*",
                    "queue": "*",
                    "periods_days": {"proof": 365, "quality": 30},
                    "default_purposes": ["quality"],
                }
            ]
        },
        2,
    )
    change = recompute(POLICY, shorter, facts, STORED + 60 * DAY)
    assert (change.recordings, change.earlier, change.later, change.unchanged) == (2, 2, 0, 0)
    assert change.due_now == 3  # c1's three items (30 days < 60 days)
    assert "Object Lock" in change.warnings[0]
    lacking = PolicySet.from_document(
        {
            "rules": [
                {
                    "tenant": "*",
                    "queue": "*",
                    "periods_days": {"quality": 30},
                    "default_purposes": ["quality"],
                }
            ]
        },
        3,
    )
    with pytest.raises(PolicyError, match="1 recording\\(s\\) use 'proof'"):
        recompute(POLICY, lacking, facts, STORED)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("*/15 * * * *", "2026-03-01T10:07:30", "2026-03-01T10:15:00"),
        ("0 3 * * *", "2026-03-01T03:00:00", "2026-03-02T03:00:00"),
        ("@daily", "2026-12-31T23:59:00", "2027-01-01T03:00:00"),
        ("30 2 1 * *", "2026-01-15T00:00:00", "2026-02-01T02:30:00"),
        ("0 0 * * 1-5", "2026-11-21T12:00:00", "2026-11-23T00:00:00"),  # Sat -> Mon
        ("0 0 13 * 5", "2026-11-21T00:00:00", "2026-11-27T00:00:00"),  # day 13 OR Friday
        ("@every 30s", "2026-03-01T10:00:10", "2026-03-01T10:00:30"),
    ],
)
def test_cron_schedules(expression: str, after: str, expected: str) -> None:
    at = datetime.fromisoformat(after).replace(tzinfo=UTC)
    assert CronSchedule.parse(expression).next_after(at) == datetime.fromisoformat(
        expected
    ).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    "bad", ["* * * *", "61 * * * *", "*/0 * * * *", "a b c d e", "5-1 * * * *"]
)
def test_bad_cron_schedules_are_refused(bad: str) -> None:
    with pytest.raises(CronError):
        CronSchedule.parse(bad)


@pytest.mark.parametrize(
    ("identifier", "key"),
    [
        ("sip:+33 6 12-34-56-78@pstn.example;user=phone", "+33612345678"),
        ("<tel:+33.6.12.34.56.78>", "+33612345678"),
        ("+33612345678", "+33612345678"),
        ("sips:Alice@Example.COM", "alice@example.com"),
        ("CUST-0042", "cust-0042"),
    ],
)
def test_customer_identifiers_normalize(identifier: str, key: str) -> None:
    assert party_key(identifier) == key


def test_an_empty_customer_is_refused() -> None:
    with pytest.raises(SubjectError):
        customer_key(" sip: ")


def test_erasure_keeps_what_the_law_requires_and_says_why() -> None:
    now = STORED + 200 * DAY
    proof = CallData(
        "p",
        {"recording": "live", "transcript": "live", "analysis": "purged"},
        {"proof": STORED + 1825 * DAY, "quality": STORED + 183 * DAY},
    )
    decision = decide(proof, POLICY, now)
    assert decision.erase == []
    assert decision.already == ["analysis"]
    assert {k.data_kind for k in decision.kept} == {"recording", "transcript"}
    assert all("17(3)(b)" in k.legal_basis for k in decision.kept)
    held = CallData(
        "h", {"recording": "live"}, {"quality": STORED + 183 * DAY}, [("hold-1", "court case")]
    )
    [kept] = decide(held, POLICY, now).kept
    assert "hold-1 (court case)" in kept.reason and kept.until is None
    plain = CallData("x", {"recording": "live", "transcript": "purging"}, {})
    assert decide(plain, POLICY, now).erase == ["recording"]


def _chain(n: int) -> list[AuditRecord]:
    records, prev = [], GENESIS
    for seq in range(1, n + 1):
        at = STORED + seq * DAY
        digest = entry_hash(prev, seq, at, "me", "access.recording.listen", f"call:{seq}", "{}")
        records.append(
            AuditRecord(seq, at, "me", "access.recording.listen", f"call:{seq}", "{}", prev, digest)
        )
        prev = digest
    return records


def test_the_audit_chain_detects_edits_deletions_and_a_cut_tail() -> None:
    records = _chain(6)
    assert verify_chain(records).ok
    edited = list(records)
    r = edited[2]
    edited[2] = AuditRecord(
        r.seq, r.at, "intruder", r.action, r.subject, r.details, r.prev_hash, r.hash
    )
    assert verify_chain(edited).problems == ["entry 3: content does not match its hash (edited)"]
    rehashed = list(records)  # edited and re-hashed: the next entry no longer links
    new_hash = entry_hash(r.prev_hash, r.seq, r.at, "intruder", r.action, r.subject, r.details)
    rehashed[2] = AuditRecord(
        r.seq, r.at, "intruder", r.action, r.subject, r.details, r.prev_hash, new_hash
    )
    assert "entry 4: prev_hash does not match" in verify_chain(rehashed).problems[0]
    deleted = records[:3] + records[4:]
    problems = verify_chain(deleted).problems
    assert problems[0].startswith("entry 4 missing")
    cut = records[:4]
    anchor = (records[-1].seq, records[-1].hash)
    assert verify_chain(cut).ok  # a cut tail needs an anchor kept elsewhere
    assert "deleted from the end" in verify_chain(cut, anchor).problems[0]
