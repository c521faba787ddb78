"""The back-pressure policy (pure) and the work queue's priorities and bounds."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from callscope_transcriber.domain.backpressure import BackPressurePolicy, CallLoad, Level
from callscope_transcriber.domain.segmenter import Utterance
from callscope_transcriber.live import BatchJob, FinalJob, PartialJob, WorkQueue

POLICY = BackPressurePolicy(
    skip_partials_above_ms=4000, resume_partials_below_ms=1000, defer_above_ms=10_000
)


def test_partials_stop_above_skip_and_resume_only_below_resume() -> None:
    assert POLICY.partials_allowed(4000, allowed_now=True)  # at the bound: still allowed
    assert not POLICY.partials_allowed(4001, allowed_now=True)
    # Hysteresis: once off, partials stay off until the backlog is well down.
    assert not POLICY.partials_allowed(3000, allowed_now=False)
    assert not POLICY.partials_allowed(1000, allowed_now=False)
    assert POLICY.partials_allowed(999, allowed_now=False)


def test_nothing_is_deferred_while_the_backlog_fits() -> None:
    loads = {"a": CallLoad(6000, 0), "b": CallLoad(4000, 1)}
    assert POLICY.calls_to_defer(loads) == []
    assert POLICY.calls_to_defer({}) == []


def test_newest_calls_are_deferred_first_until_the_rest_fits() -> None:
    loads = {
        "oldest": CallLoad(8000, 0),
        "middle": CallLoad(3000, 1),
        "newest": CallLoad(2000, 2),
    }
    # 13 s > 10 s: dropping the newest (2 s) leaves 11 s, still too much; then the middle one.
    assert POLICY.calls_to_defer(loads) == ["newest", "middle"]
    # A newer call with nothing queued yet is deferred too: it is the next one to add load.
    loads["brand_new"] = CallLoad(0, 3)
    assert POLICY.calls_to_defer(loads)[:2] == ["brand_new", "newest"]


def test_a_single_call_that_cannot_keep_up_is_deferred() -> None:
    assert POLICY.calls_to_defer({"only": CallLoad(10_001, 0)}) == ["only"]


def test_a_deferred_call_comes_back_only_when_the_backlog_is_low_and_things_settled() -> None:
    policy = BackPressurePolicy(resume_calls_below_ms=500, resume_interval_s=10.0)
    assert policy.may_resume_a_call(499, since_last_change_s=10.0)
    assert not policy.may_resume_a_call(500, since_last_change_s=60.0)  # backlog not low
    assert not policy.may_resume_a_call(0, since_last_change_s=9.9)  # a change too recent
    never = BackPressurePolicy(resume_calls_below_ms=0)
    assert not never.may_resume_a_call(0, since_last_change_s=3600.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"skip_partials_above_ms": 1000, "resume_partials_below_ms": 2000},
        {"skip_partials_above_ms": 5000, "defer_above_ms": 4000},
        {"resume_partials_below_ms": -1},
        {"defer_above_ms": 15_000, "resume_calls_below_ms": 20_000},
        {"resume_interval_s": -1.0},
    ],
)
def test_inconsistent_thresholds_are_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        BackPressurePolicy(**kwargs)


def test_levels_are_the_event_values() -> None:
    assert [level.value for level in Level] == ["partials_skipped", "deferred", "recovered"]


def _utterance(start_ms: int, end_ms: int) -> Utterance:
    return Utterance(start_ms, end_ms, np.zeros((end_ms - start_ms) * 16, dtype=np.float32))


async def test_queue_orders_finals_then_newest_partial_then_batch() -> None:
    queue = WorkQueue()
    try:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        batch = BatchJob(None, np.zeros(1), None, 5, loop.create_future())  # type: ignore[arg-type]
        queue.put_batch(batch)
        queue.put_partial(PartialJob(("c1", 1), _utterance(0, 1000)))
        newer = PartialJob(("c1", 1), _utterance(0, 2000))
        queue.put_partial(newer)  # replaces the older partial of the same channel
        queue.put_final(FinalJob(("c2", 2), _utterance(0, 1500)))
        queue.put_final(FinalJob(("c1", 2), _utterance(0, 700)))
        assert queue.backlog_ms() == 2200 and queue.backlog_by_call() == {"c2": 1500, "c1": 700}

        order = [await queue.get(stop) for _ in range(4)]
        kinds = [type(j).__name__ for j in order]
        assert kinds == ["FinalJob", "FinalJob", "PartialJob", "BatchJob"]
        assert order[0].key == ("c2", 2) and order[2] is newer and order[3] is batch

        # An empty queue waits until work comes, and returns None once stopped.
        waiter = asyncio.create_task(queue.get(stop))
        await asyncio.sleep(0.05)
        assert not waiter.done()
        stop.set()
        assert await waiter is None
    finally:
        queue.close()


async def test_a_final_supersedes_its_channels_partial_and_deferral_empties_a_call() -> None:
    queue = WorkQueue()
    try:
        queue.put_partial(PartialJob(("c1", 1), _utterance(0, 1000)))
        queue.put_partial(PartialJob(("c2", 1), _utterance(0, 1000)))
        queue.put_final(FinalJob(("c1", 1), _utterance(0, 1200)))
        assert len(queue) == 2  # c1's partial is gone: its utterance is final now
        queue.put_final(FinalJob(("c2", 2), _utterance(0, 900)))
        assert queue.drop_call("c2") == 1
        assert queue.backlog_by_call() == {"c1": 1200} and len(queue) == 1
        assert queue.drop_partials() == 0
    finally:
        queue.close()
