"""Use limitation for a call in progress: known from CallStarted only (no RecordingStored
yet), its transcript and analysis may be viewed for live assistance, nothing else, and not
after the live_assist period; every decision is audited."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration


async def check(world, call_id: str, purpose: str, resource: str = "transcript"):  # type: ignore[no-untyped-def]
    return await world.engine.access.check(call_id, purpose, "sup@example", resource, "view")


async def test_a_live_call_is_viewable_for_live_assist_only_until_its_period_ends(world) -> None:  # type: ignore[no-untyped-def]
    await world.call("LIVE-1", stored=False)

    allowed = await check(world, "LIVE-1", "live-assist")  # the API spelling
    assert allowed.allowed and allowed.reason == ""
    assert allowed.purpose_expires_at is not None and allowed.purpose_expires_at > world.clock()
    assert (await check(world, "LIVE-1", "live_assist", "analysis")).allowed

    quality = await check(world, "LIVE-1", "quality")
    assert not quality.allowed and "is live" in quality.reason and "live_assist" in quality.reason
    recording = await check(world, "LIVE-1", "live_assist", "recording")
    assert not recording.allowed and "does not cover the recording" in recording.reason
    unknown = await check(world, "NEVER-STARTED", "live_assist")
    assert not unknown.allowed and "known to retention" in unknown.reason

    world.clock.advance(days=2)  # the default live_assist period is one day
    expired = await check(world, "LIVE-1", "live-assist")
    assert not expired.allowed and "expired" in expired.reason

    entries = await world.engine.audit.entries(subject="call:LIVE-1", limit=100)
    decisions = [(e.action, json.loads(e.details)["allowed"]) for e in entries]
    assert decisions == [
        ("access.transcript.view", True),
        ("access.analysis.view", True),
        ("access.transcript.view", False),
        ("access.recording.view", False),
        ("access.transcript.view", False),
    ]


async def test_once_the_recording_is_stored_its_purposes_decide(world) -> None:  # type: ignore[no-untyped-def]
    await world.call("DONE-1", purposes=("quality",))
    assert (await check(world, "DONE-1", "quality")).allowed
    after = await check(world, "DONE-1", "live-assist")
    assert not after.allowed and "never granted" in after.reason
