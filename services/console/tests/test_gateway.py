"""The console gateway over HTTP against in-process fakes of the gRPC servicers: access checks,
queue filtering, acknowledgement, search, playback and resuming a live stream."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from callscope.v1 import common_pb2, supervisor_pb2, transcripts_pb2

from .conftest import TOKENS, Gateway, alert, final, overview

CUSTOMER, AGENT = common_pb2.CHANNEL_CUSTOMER, common_pb2.CHANNEL_AGENT
RUSSIAN = "Я хочу поговорить с агентом"  # noqa: RUF001 - Cyrillic on purpose


async def read_events(response: Any, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The next `count` server-sent events of `response` (comments and pings skipped)."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}

    async def read() -> None:
        while len(events) < count:
            line = (await response.content.readline()).decode().rstrip("\r\n")
            if not line:
                if "data" in current:
                    events.append(
                        {
                            "id": current.get("id"),
                            "event": current.get("event", "message"),
                            "data": json.loads(current["data"]),
                        }
                    )
                current.clear()
            elif not line.startswith(":"):
                name, _, value = line.partition(":")
                current[name] = value.removeprefix(" ")

    await asyncio.wait_for(read(), timeout)
    return events


async def test_without_a_valid_token_nothing_of_any_call_is_served(gateway: Gateway) -> None:
    gateway.supervisor.start_call(overview("call-b", "billing"))
    for path in ("/floor", "/calls/call-b", "/search"):
        page = await gateway.get(path)
        assert page.status == 401
        body = await page.text()
        assert 'action="/signin"' in body and "call-b" not in body and "agent-of" not in body
    for path in ("/api/search?text=x", "/events/floor", "/events/calls/call-b", "/api/me"):
        reply = await gateway.get(path, headers={"Authorization": "Bearer not-a-token-at-all"})
        assert reply.status == 401
        assert "call-b" not in await reply.text()
    refused = await gateway.client.post("/api/alerts/a1/ack", json={})
    assert refused.status == 401


async def test_sign_in_sets_an_http_only_cookie_that_opens_the_pages(gateway: Gateway) -> None:
    bad = await gateway.client.post("/signin", data={"token": "wrong-token-000"})
    assert bad.status == 401 and "not valid" in await bad.text()
    good = await gateway.client.post(
        "/signin", data={"token": TOKENS["bea"]}, allow_redirects=False
    )
    assert good.status == 303 and good.headers["Location"] == "/floor"
    assert "HttpOnly" in good.headers["Set-Cookie"]
    floor = await gateway.client.get("/floor")
    assert floor.status == 200 and "bea" in await floor.text()


async def test_french_pages_by_accept_language(gateway: Gateway) -> None:
    page = await gateway.get("/floor", "bea", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    body = await page.text()
    assert '<html lang="fr">' in body and "Appels en cours" in body


async def test_unknown_call_and_call_of_another_queue_get_a_404_page(gateway: Gateway) -> None:
    gateway.supervisor.start_call(overview("call-s", "support"))
    for call_id in ("no-such-call", "call-s", "bad id with spaces"):
        page = await gateway.get(f"/calls/{call_id}", "bea")
        assert page.status == 404
        body = await page.text()
        assert "No call with this id" in body and "agent-of-support" not in body
    stream = await gateway.get("/events/calls/call-s", "bea")
    assert stream.status == 404
    assert (await gateway.get("/calls/call-s", "sam")).status == 200


async def test_floor_stream_shows_only_the_users_queues(gateway: Gateway) -> None:
    supervisor = gateway.supervisor
    supervisor.start_call(overview("call-b", "billing"))
    supervisor.start_call(overview("call-s", "support"))
    await asyncio.sleep(0.2)  # the hub sees both calls
    forbidden = await gateway.get("/events/floor?queue=support", "bea")
    assert forbidden.status == 403
    bea = await gateway.get("/events/floor", "bea")
    ada = await gateway.get("/events/floor", "ada")
    first = await read_events(bea, 2)
    assert [e["event"] for e in first] == ["reset", "call"]
    assert first[1]["data"]["call_id"] == "call-b"
    assert first[1]["data"]["customer"] == "+33•••••••78"
    assert {e["data"].get("call_id") for e in await read_events(ada, 3)} >= {"call-b", "call-s"}
    supervisor.raise_alert(alert("alert-s", "call-s", "support"))
    supervisor.raise_alert(alert("alert-b", "call-b", "billing"))
    [event] = await read_events(bea, 1)
    assert event["event"] == "alert" and event["data"]["alert_id"] == "alert-b"
    assert event["data"]["evidence"][0]["text"] == "a real agent now"
    # A supervisor cannot acknowledge an alert of another queue, even knowing its id.
    assert (await gateway.post("/api/alerts/alert-s/ack", "bea")).status == 404
    assert gateway.supervisor.acks == []
    ack = await gateway.post("/api/alerts/alert-b/ack", "bea")
    assert ack.status == 200 and (await ack.json())["acknowledged"] is True
    [event] = await read_events(bea, 1)
    assert event["event"] == "acknowledged" and event["data"]["by"] == "bea"
    assert gateway.supervisor.acks[0].acknowledged_by == "bea"
    supervisor.publish_floor(
        supervisor_pb2.FloorUpdate(call=overview("call-b", "billing", live=False))
    )
    [event] = await read_events(bea, 1)
    assert event["event"] == "call_ended" and event["data"]["call_id"] == "call-b"
    bea.close()
    ada.close()


async def test_severity_filter_hides_lower_alerts(gateway: Gateway) -> None:
    gateway.supervisor.start_call(overview("call-b", "billing"))
    low = alert("alert-low", "call-b", "billing")
    low.severity = low.SEVERITY_INFO
    gateway.supervisor.raise_alert(low)
    gateway.supervisor.raise_alert(alert("alert-high", "call-b", "billing"))
    await asyncio.sleep(0.2)
    stream = await gateway.get("/events/floor?severity=critical", "bea")
    events = await read_events(stream, 3)
    assert [e["data"].get("alert_id") for e in events if e["event"] == "alert"] == ["alert-high"]
    assert (await gateway.get("/events/floor?severity=loud", "bea")).status == 400
    stream.close()


async def test_call_stream_resumes_after_a_drop_without_repeating(gateway: Gateway) -> None:
    supervisor = gateway.supervisor
    supervisor.start_call(overview("call-b", "billing"))
    supervisor.call_update("call-b", final("call-b", AGENT, 0, "Hello, Acme Bank."))
    supervisor.call_update("call-b", final("call-b", CUSTOMER, 1, RUSSIAN))
    first = await gateway.get("/events/calls/call-b", "bea")
    events = await read_events(first, 4)
    assert [e["event"] for e in events] == ["reset", "call", "transcript", "transcript"]
    assert events[3]["data"]["text"] == RUSSIAN
    request = supervisor.watch_call_requests[0]
    assert (request.requested_by, request.purpose) == ("bea", "live-assist")
    last_id = events[-1]["id"]
    first.close()  # the connection drops
    supervisor.call_update("call-b", final("call-b", CUSTOMER, 2, "我要和真人说话"))
    resumed = await gateway.get("/events/calls/call-b", "bea", headers={"Last-Event-ID": last_id})
    [event] = await read_events(resumed, 1)
    assert event["event"] == "transcript" and event["data"]["text"] == "我要和真人说话"
    # Nothing already delivered comes again, even when more arrives.
    supervisor.call_update("call-b", final("call-b", AGENT, 3, "One moment."))
    [event] = await read_events(resumed, 1)
    assert event["data"]["utterance_no"] == 3
    assert len(supervisor.watch_call_requests) == 1  # the resume was served from the log
    resumed.close()
    # A new visit asks upstream again (retention checks and audits each visit).
    visit = await gateway.get("/events/calls/call-b", "bea")
    assert [e["event"] for e in await read_events(visit, 2)] == ["reset", "call"]
    assert len(supervisor.watch_call_requests) == 2
    visit.close()
    # An id from a feed the gateway no longer has: the page is told to start over.
    stale = await gateway.get("/events/calls/call-b", "bea", headers={"Last-Event-ID": "x-9"})
    assert (await read_events(stale, 1))[0]["event"] == "reset"
    stale.close()


async def test_upstream_repeats_are_not_passed_on(gateway: Gateway) -> None:
    supervisor = gateway.supervisor
    supervisor.start_call(overview("call-b", "billing"))
    update = final("call-b", AGENT, 0, "Hello.")
    supervisor.call_update("call-b", update)
    supervisor.call_update("call-b", update)  # e.g. replayed and live
    supervisor.call_update("call-b", final("call-b", AGENT, 1, "Bye."))
    stream = await gateway.get("/events/calls/call-b", "bea")
    events = await read_events(stream, 4)
    assert [e["data"].get("utterance_no") for e in events[2:]] == [0, 1]
    stream.close()


async def test_a_refused_purpose_is_shown_not_hidden(gateway: Gateway) -> None:
    gateway.supervisor.start_call(overview("call-b", "billing", live=False))
    gateway.supervisor.refused.add("call-b")
    stream = await gateway.get("/events/calls/call-b", "bea")
    events = await read_events(stream, 2)
    assert events[-1]["event"] == "failed" and events[-1]["data"]["status"] == 403
    assert gateway.supervisor.watch_call_requests[0].purpose == "quality"


async def test_playback_only_after_get_recording_and_only_for_its_user(
    gateway: Gateway, tmp_path: Path
) -> None:
    gateway.supervisor.start_call(overview("call-b", "billing", live=False))
    wav = tmp_path / "call-b.wav"
    wav.write_bytes(b"RIFF....WAVEfmt ")
    gateway.recorder.files["call-b"] = wav
    reply = await gateway.post("/api/calls/call-b/recording", "bea")
    assert reply.status == 200
    url = (await reply.json())["url"]
    assert url.startswith("/playback/") and str(wav) not in url
    request = gateway.recorder.requests[0]
    assert (request.requested_by, request.purpose) == ("bea", "quality")
    audio = await gateway.get(url, "bea")
    assert audio.status == 200 and await audio.read() == wav.read_bytes()
    assert audio.headers["Content-Type"] == "audio/wav"
    assert (await gateway.get(url, "ada")).status == 404  # granted to bea, not to ada
    assert (await gateway.get("/playback/guessed-token", "bea")).status == 404
    gateway.recorder.refused.add("call-b")
    refused = await gateway.post("/api/calls/call-b/recording", "bea")
    assert refused.status == 403 and "expired" in (await refused.json())["error"]
    other = await gateway.post("/api/calls/call-b/recording", "sam")
    assert other.status == 404


async def test_search_combines_words_and_filters_within_the_users_queues(
    gateway: Gateway,
) -> None:
    supervisor = gateway.supervisor
    supervisor.start_call(overview("call-b", "billing", live=False))
    supervisor.start_call(overview("call-s", "support", live=False))
    gateway.transcripts.hits = [
        transcripts_pb2.TranscriptHit(
            call_id=call_id, text="I want a real agent", snippet="I want a real [agent]"
        )
        for call_id in ("call-b", "call-s")
    ]
    reply = await gateway.get("/api/search?text=agent", "bea")
    assert reply.status == 200
    calls = (await reply.json())["calls"]
    assert [c["call_id"] for c in calls] == ["call-b"]
    assert calls[0]["snippets"] == ["I want a real [agent]"]
    assert gateway.transcripts.requests[0].requested_by == "bea"
    nothing = await gateway.get("/api/search?text=refund", "bea")
    assert (await nothing.json())["calls"] == []
    everything = await gateway.get("/api/search", "ada")
    assert {c["call_id"] for c in (await everything.json())["calls"]} == {"call-b", "call-s"}
    assert (await gateway.get("/api/search?queue=support", "bea")).status == 403
    assert (await gateway.get("/api/search?from=yesterday", "bea")).status == 400
    assert (await gateway.get("/api/search?sentiment=angry", "bea")).status == 400


async def test_summary_after_the_call(gateway: Gateway) -> None:
    gateway.supervisor.start_call(overview("call-b", "billing", live=False))
    reply = await gateway.get("/api/calls/call-b/analysis", "bea")
    data = await reply.json()
    assert data["summary"]["categories"] == ["billing_dispute"]
    assert data["call"]["customer"] == "+33•••••••78"
    assert [line["text"] for line in data["transcript"]] == ["Hello."]
    assert gateway.transcripts.requests[0].purpose == "quality"
    assert (await gateway.get("/api/calls/call-b/analysis", "sam")).status == 404


async def test_the_floor_recovers_when_the_analyzer_stream_breaks(gateway: Gateway) -> None:
    gateway.supervisor.start_call(overview("call-b", "billing"))
    await asyncio.sleep(0.2)
    page = await gateway.get("/events/floor", "bea")
    assert [e["event"] for e in await read_events(page, 2)] == ["reset", "call"]
    gateway.supervisor.break_floor_streams()
    # The hub re-opens WatchFloor: the page is told to start over and gets the new snapshot.
    events = await read_events(page, 2, timeout=10)
    assert [e["event"] for e in events] == ["reset", "call"]
    assert events[1]["data"]["call_id"] == "call-b"
    gateway.supervisor.raise_alert(alert("alert-b", "call-b", "billing"))
    [event] = await read_events(page, 1)
    assert event["event"] == "alert"
    page.close()
