"""callscope.v1.Retention over gRPC and the `callscope retention` CLI on top of it: refusals
are gRPC statuses with clear messages, and the CLI turns them into exit codes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from typer.testing import CliRunner

from callscope.v1 import retention_pb2, retention_pb2_grpc
from callscope_retention.cli import app
from callscope_retention.grpc_api import RetentionServicer

pytestmark = pytest.mark.integration


@pytest.fixture
async def api(world) -> AsyncIterator[str]:  # type: ignore[no-untyped-def]
    server = grpc.aio.server()
    retention_pb2_grpc.add_RetentionServicer_to_server(RetentionServicer(world.engine), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield f"127.0.0.1:{port}"
    await server.stop(0)


async def cli(target: str, *args: str) -> tuple[int, str]:
    result = await asyncio.to_thread(
        CliRunner().invoke, app, [*args, "--target", target], catch_exceptions=False
    )
    return result.exit_code, result.output


async def test_grpc_refusals_carry_status_and_reason(world, api) -> None:  # type: ignore[no-untyped-def]
    await world.call("g1", purposes=("quality",))
    async with grpc.aio.insecure_channel(api) as channel:
        stub = retention_pb2_grpc.RetentionStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.EraseSubject(
                retention_pb2.EraseSubjectRequest(customer="+1555", requested_by="dpo")
            )
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        assert "unknown customer" in (err.value.details() or "")
        hold = await stub.PlaceLegalHold(
            retention_pb2.PlaceLegalHoldRequest(call_id="g1", reason="case", placed_by="legal")
        )
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.PlaceLegalHold(
                retention_pb2.PlaceLegalHoldRequest(call_id="g1", reason="x", placed_by="b")
            )
        assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
        assert hold.hold_id in (err.value.details() or "")
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.ApplyPolicy(
                retention_pb2.ApplyPolicyRequest(
                    document="rules: [{tenant: '*', queue: '*', periods_days: {quality: -1},"
                    " default_purposes: [quality]}]",
                    applied_by="dpo",
                )
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "must be positive" in (err.value.details() or "")
        info = await stub.GetRecordingRetention(
            retention_pb2.GetRecordingRetentionRequest(call_id="g1")
        )
        assert info.on_hold and info.hold_ids == [hold.hold_id] and info.state == "live"
        world.clock.at_day(200)
        decision = await stub.CheckAccess(
            retention_pb2.CheckAccessRequest(
                call_id="g1", purpose="quality", actor="qa", resource="recording", action="listen"
            )
        )
        assert not decision.allowed and "expired on 2026-07-07" in decision.reason
        entries = await stub.ListAudit(retention_pb2.ListAuditRequest(subject="call:g1"))
        assert entries.entries[-1].action == "access.recording.listen"
        assert entries.entries[-1].seq == decision.audit_seq


async def test_cli_end_to_end(world, api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    await world.call("c1", customer="sip:+33611111111@pstn.example")
    await world.call("c2", customer="sip:+33622222222@pstn.example", purposes=("proof",))
    world.clock.at_day(200)
    code, out = await cli(api, "plan")
    assert code == 0 and "would purge: 2 call(s): analysis 1, recording 1" in out

    code, out = await cli(
        api, "hold", "place", "--call", "c1", "--reason", "audit", "--by", "legal"
    )
    assert code == 0 and "call" in out and "audit" in out
    hold_id = out.split()[0]
    code, out = await cli(api, "hold", "place", "--call", "c1", "--reason", "again", "--by", "x")
    assert code == 5 and "conflicting hold" in out
    code, out = await cli(api, "plan", "--json")
    assert json.loads(out)["held_items"] == "1"  # int64 as a JSON string (proto3 mapping)
    code, out = await cli(api, "hold", "list")
    assert hold_id in out
    code, out = await cli(api, "hold", "release", hold_id, "--reason", "done", "--by", "legal")
    assert code == 0 and "released" in out

    code, out = await cli(api, "erase", "--customer", "+33 6 99 99 99 99", "--by", "dpo")
    assert code == 4 and "unknown customer" in out
    # The services confirm in the background (a real bus would do this on its own).
    pump = asyncio.create_task(_pump_forever(world))
    try:
        report_file = tmp_path / "proof.json"
        code, out = await cli(
            api,
            "erase",
            "--customer",
            "+33622222222",
            "--by",
            "dpo",
            "--wait",
            "10",
            "--out",
            str(report_file),
        )
    finally:
        pump.cancel()
    assert code == 0 and "COMPLETE" in out, out
    assert "kept recording" in out and "Art. 17(3)(b)" in out
    proof = json.loads(report_file.read_text())
    assert proof["complete"] and proof["calls"][0]["call_id"] == "c2"

    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "rules: [{tenant: '*', queue: '*', periods_days: {proof: 1825, quality: 30,"
        " analytics: 365}, default_purposes: [quality, analytics]}]"
    )
    code, out = await cli(api, "policy", "apply", str(policy), "--by", "dpo")
    assert code == 0 and "dry run: nothing changed" in out
    code, out = await cli(api, "policy", "apply", str(policy), "--by", "dpo", "--yes")
    assert code == 0 and "policy v2 is active" in out
    code, out = await cli(api, "policy", "show")
    assert code == 0 and '"quality": 30' in out

    code, out = await cli(api, "show", "c1")
    assert code == 0 and "purpose quality" in out
    code, out = await cli(api, "audit", "verify")
    assert code == 0 and "audit log OK" in out
    head = out.split("head ")[1].strip()
    code, out = await cli(api, "audit", "list", "--action", "hold.")
    assert out.count("hold.") == 2
    code, out = await cli(api, "audit", "verify", "--anchor", head)
    assert code == 0


async def _pump_forever(world) -> None:  # type: ignore[no-untyped-def]
    while True:
        await world.bus.pump()
        await asyncio.sleep(0.05)
