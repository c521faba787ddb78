"""Recording policy and live recording control through the real gRPC API and the
`callscope recorder` CLI, against PostgreSQL, Kafka and a live CallRecorder."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import grpc
import pytest
import soundfile
from typer.testing import CliRunner

from callscope.v1 import events_pb2, recorder_pb2, recorder_pb2_grpc
from callscope_core.cli import app as callscope_cli
from callscope_recorder.calls import CallInfo
from callscope_recorder.domain.policy import sample_point
from callscope_recorder.grpc_api import RecorderService

if TYPE_CHECKING:
    from conftest import RecorderHarness

Action = recorder_pb2.SetRecordingRequest
SECOND = b"\x10\x27" * 8000  # 1 s of a constant 10000 sample


@pytest.fixture
async def served(harness: RecorderHarness) -> AsyncIterator[tuple[RecorderHarness, str]]:
    server = grpc.aio.server()
    recorder_pb2_grpc.add_RecorderServicer_to_server(
        RecorderService(
            harness.pool,
            harness.objects,
            "127.0.0.1:1",
            recorder=harness.recorder,
            policies=harness.policies,
        ),
        server,
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield harness, f"127.0.0.1:{port}"
    await server.stop(None)


async def cli(target: str, *args: str) -> tuple[int, str]:
    """`callscope recorder ...` run as a user would (in a thread: it blocks on gRPC)."""
    result = await asyncio.to_thread(
        CliRunner().invoke,
        callscope_cli,
        ["recorder", *args, "--target", target],
        env={"CALLSCOPE_ACTOR": "ops-1"},
    )
    return result.exit_code, result.output


async def test_policies_set_and_listed_by_the_cli_and_read_over_grpc(
    served: tuple[RecorderHarness, str],
) -> None:
    _, target = served
    code, out = await cli(
        target, "policy", "set", "--tenant", "acme", "--queue", "vip", "--mode", "on_demand",
        "--opt-out", "proof_only", "--purposes", "proof,quality",
        "--proof-retention-days", "1825",
    )  # fmt: skip
    assert code == 0, out
    assert "on_demand" in out and "opt-out=proof_only" in out and "v1 ops-1" in out
    assert "proof-lock=1825d" in out  # five years, banking-style
    code, out = await cli(
        target, "policy", "set", "--tenant", "acme", "--queue", "vip", "--mode", "on_demand",
        "--opt-out", "proof_only", "--purposes", "proof,quality",
    )  # fmt: skip
    assert code == 0 and "proof-lock=1825d" in out and "v2" in out, out  # unset: kept
    code, out = await cli(
        target, "policy", "set", "--tenant", "acme", "--queue", "vip", "--mode", "on_demand",
        "--proof-retention-days", "40000",
    )  # fmt: skip
    assert code == 2 and "proof_retention_days" in out, out
    code, out = await cli(
        target, "policy", "set", "--tenant", "acme", "--mode", "percentage", "--percentage", "25"
    )
    assert code == 0 and "percentage 25%" in out, out
    code, out = await cli(target, "policy", "set", "--tenant", "acme", "--mode", "on_demand")
    assert code == 0 and "v2" in out, out  # replaced: the version moves on
    code, out = await cli(
        target, "policy", "set", "--tenant", "acme", "--mode", "percentage", "--percentage", "150"
    )
    assert code == 2 and "percentage 150" in out, out
    code, out = await cli(target, "policy", "set", "--tenant", "acme", "--mode", "sometimes")
    assert code != 0 and "--mode" in out
    code, out = await cli(target, "policy", "list", "--tenant", "acme")
    assert code == 0 and len(out.strip().splitlines()) == 2 and "(default)" in out, out

    async with grpc.aio.insecure_channel(target) as channel:
        stub = recorder_pb2_grpc.RecorderStub(channel)
        vip = await stub.GetRecordingPolicy(
            recorder_pb2.GetRecordingPolicyRequest(tenant="acme", queue="vip"), timeout=10
        )
        assert vip.mode == vip.MODE_ON_DEMAND and list(vip.purposes) == ["proof", "quality"]
        assert vip.proof_retention_days == 1825
        fallback = await stub.GetRecordingPolicy(
            recorder_pb2.GetRecordingPolicyRequest(tenant="acme", queue="other"), timeout=10
        )
        assert fallback.queue == "" and fallback.mode == fallback.MODE_ON_DEMAND
        unknown = await stub.GetRecordingPolicy(
            recorder_pb2.GetRecordingPolicyRequest(tenant="nobody"), timeout=10
        )
        assert unknown.mode == unknown.MODE_ALL and unknown.proof_retention_days == 365
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.SetRecordingPolicy(
                recorder_pb2.SetRecordingPolicyRequest(
                    policy=recorder_pb2.RecordingPolicy(tenant="acme", mode=1)
                ),
                timeout=10,
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # no requested_by


async def test_on_demand_call_records_only_between_start_and_stop(
    served: tuple[RecorderHarness, str],
) -> None:
    harness, target = served
    await harness.policies.set(
        harness.policies_model("ondemand-co", "", "on_demand"), requested_by="test"
    )
    handle = await harness.recorder.open_call(CallInfo(source="grpc", tenant="ondemand-co"))
    for channel in ("customer", "agent"):
        handle.feed(channel, SECOND)
    async with grpc.aio.insecure_channel(target) as channel:
        stub = recorder_pb2_grpc.RecorderStub(channel)

        async def set_recording(action: int, reason: str = "") -> str:
            reply = await stub.SetRecording(
                Action(
                    call_id=handle.call_id, action=action, reason=reason, requested_by="agent-9"
                ),
                timeout=10,
            )
            return reply.state

        assert await set_recording(Action.ACTION_START, "customer agreed") == "recording"
        for name in ("customer", "agent"):
            handle.feed(name, SECOND)
        assert await set_recording(Action.ACTION_STOP, "wrap-up") == "stopped"
        for name in ("customer", "agent"):
            handle.feed(name, SECOND)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await set_recording(Action.ACTION_START)
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.SetRecording(
                Action(call_id="no-such-call", action=Action.ACTION_PAUSE, requested_by="a"),
                timeout=10,
            )
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.SetRecording(Action(call_id=handle.call_id, requested_by="a"), timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    await handle.end("hangup")

    events = await harness.events_after_end(handle.call_id)
    [started] = [m for m in events if isinstance(m, events_pb2.CallStarted)]
    assert started.recording_mode == "on_demand" and not started.recording
    assert started.tenant == "ondemand-co"
    [began] = [m for m in events if isinstance(m, events_pb2.RecordingStarted)]
    [stopped] = [m for m in events if isinstance(m, events_pb2.RecordingStopped)]
    assert (began.at_ms, began.by, began.reason) == (1000, "agent-9", "customer agreed")
    assert (stopped.at_ms, stopped.reason) == (2000, "wrap-up")
    [stored] = [m for m in events if isinstance(m, events_pb2.RecordingStored)]
    assert [(g.start_ms, g.duration_ms, g.reason) for g in stored.gaps] == [
        (0, 1000, "not_recording"),
        (2000, 1000, "stopped"),
    ]
    pcm, _ = soundfile.read(io.BytesIO(await harness.objects.get(stored.object_key)), dtype="int16")
    assert not pcm[:8000].any() and (pcm[8000:16000] == 10000).all() and not pcm[16000:].any()
    segments = [m for m in events if isinstance(m, events_pb2.AudioSegment) and m.audio]
    assert segments and all(
        s.start_ms >= 1000 and s.start_ms + s.duration_ms <= 2000 for s in segments
    )


async def test_a_call_never_started_stores_nothing(served: tuple[RecorderHarness, str]) -> None:
    harness, _ = served
    await harness.policies.set(
        harness.policies_model("never-co", "", "on_demand"), requested_by="test"
    )
    handle = await harness.recorder.open_call(CallInfo(source="twilio", tenant="never-co"))
    handle.feed("customer", SECOND)
    finished = await handle.end("stop")
    assert finished.stored is None
    events = await harness.events_after_end(handle.call_id)
    assert "RecordingStored" not in harness.kinds(events)
    assert not [m for m in events if isinstance(m, events_pb2.AudioSegment) and m.audio]
    row = await harness.call_row(handle.call_id)
    assert row is not None and row["state"] == "not_recorded" and row["object_key"] is None


async def test_percentage_policy_picks_calls_reproducibly_from_their_id(
    harness: RecorderHarness,
) -> None:
    await harness.policies.set(
        harness.policies_model("share-co", "", "percentage", 50.0), requested_by="test"
    )
    ids = [f"share-call-{i}" for i in range(12)]
    picked = {}
    for call_id in ids:
        handle = await harness.recorder.open_call(
            CallInfo(source="grpc", tenant="share-co", call_id=call_id)
        )
        picked[call_id] = handle.decision.record_from_start
        await handle.end("hangup")
    assert picked == {i: sample_point(i) < 50.0 for i in ids}
    assert 0 < sum(picked.values()) < len(ids)
    for call_id in ids[:3]:
        events = await harness.events_of(call_id, harness.ended)
        [started] = [m for m in events if isinstance(m, events_pb2.CallStarted)]
        assert started.recording == picked[call_id] and started.recording_mode == "percentage"
