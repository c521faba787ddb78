from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callscope_retention.domain.policy import PolicyError, RetentionPolicy

STORED = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = RetentionPolicy.from_days(
    1, {"proof": 1825, "quality": 183, "analytics": 365, "live_assist": 1}
)


def test_data_lives_until_its_longest_purpose_expires() -> None:
    assert POLICY.expiry(["quality"], STORED) == STORED + timedelta(days=183)
    assert POLICY.expiry(["quality", "proof"], STORED) == STORED + timedelta(days=1825)


def test_each_purpose_use_ends_on_time() -> None:
    seven_months = STORED + timedelta(days=213)
    purposes = ["quality", "proof"]
    assert POLICY.purpose_allowed("quality", purposes, STORED, STORED + timedelta(days=30))
    assert not POLICY.purpose_allowed("quality", purposes, STORED, seven_months)
    assert POLICY.purpose_allowed("proof", purposes, STORED, seven_months)
    assert not POLICY.purpose_allowed("analytics", purposes, STORED, STORED)  # never granted


@pytest.mark.parametrize(
    ("days", "message"),
    [
        ({"quality": 0}, "must be positive"),
        ({"quality": -3}, "must be positive"),
        ({"quality": 40 * 365}, "exceeds 30 years"),
        ({"forever": 10}, "unknown purpose 'forever'"),
    ],
)
def test_impossible_policies_are_refused_with_a_reason(days: dict[str, int], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        RetentionPolicy.from_days(2, days)


def test_a_recording_needs_a_purpose_the_policy_knows() -> None:
    with pytest.raises(PolicyError, match="at least one purpose"):
        POLICY.expiry([], STORED)
    partial = RetentionPolicy.from_days(3, {"quality": 90})
    with pytest.raises(PolicyError, match="no period for purpose 'proof'"):
        partial.expiry(["proof"], STORED)
