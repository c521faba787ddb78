"""The console's HTTP side: pages, a small JSON API and server-sent event streams.

Every request but the sign-in page, the static files and the texts passes `authenticate`:
no valid token, no byte of any call (401). A supervisor asking for a queue that is not theirs
gets 403; a call that does not exist, or is of another queue, gets 404 (the same answer, so
the console does not reveal which calls exist elsewhere).
"""

from __future__ import annotations

import html
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import aiohttp
import grpc
from aiohttp import web
from aiohttp_sse import sse_response
from opentelemetry import trace

from callscope.v1 import recorder_pb2, supervisor_pb2, transcripts_pb2

from .domain.access import ConsoleUser, UserDirectory
from .domain.texts import LANGUAGES, TEXTS, pick_language, text
from .domain.views import (
    SEVERITY_RANK,
    View,
    alert_view,
    overview_view,
    segment_view,
    summary_view,
)
from .feeds import CallFeeds, FeedError, FloorHub
from .telemetry import HTTP_REQUESTS, SSE_CLIENTS
from .upstream import Upstream

log = logging.getLogger(__name__)
tracer = trace.get_tracer("callscope.console")

STATIC_DIR = Path(__file__).parent / "static"
PAGES_DIR = Path(__file__).parent / "pages"
TOKEN_COOKIE = "callscope_token"
LANG_COOKIE = "lang"
PUBLIC_PREFIXES = ("/signin", "/signout", "/static/", "/lang/", "/healthz")
CALL_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")
SENTIMENTS = ("negative", "neutral", "positive")
LIVE_PURPOSE = "live-assist"
PAST_PURPOSE = "quality"


@dataclass
class PlaybackGrant:
    user: str
    url: str
    expires_at: float


@dataclass
class PlaybackGrants:
    """Playback links the console hands out after Recorder.GetRecording succeeded: each is tied
    to the user it was granted to and expires with the recorder's signed URL."""

    grants: dict[str, PlaybackGrant] = field(default_factory=dict)
    clock: Callable[[], float] = time.time

    def grant(self, user: str, url: str, expires_at: float) -> str:
        now = self.clock()
        for token in [t for t, g in self.grants.items() if g.expires_at <= now]:
            del self.grants[token]
        token = secrets.token_urlsafe(24)
        self.grants[token] = PlaybackGrant(user, url, expires_at)
        return token

    def find(self, token: str, user: str) -> PlaybackGrant | None:
        found = self.grants.get(token)
        if found is None or found.user != user or found.expires_at <= self.clock():
            return None
        return found


@dataclass
class Console:
    users: UserDirectory
    upstream: Upstream
    floor: FloorHub
    calls: CallFeeds
    playback: PlaybackGrants = field(default_factory=PlaybackGrants)
    playback_ttl_s: int = 300
    cookie_secure: bool = False
    http: aiohttp.ClientSession | None = None


CONSOLE = web.AppKey("console", Console)
USER = web.RequestKey("user", ConsoleUser)


# -- helpers ----------------------------------------------------------------------------------


def console_of(request: web.Request) -> Console:
    return request.app[CONSOLE]


def user_of(request: web.Request) -> ConsoleUser:
    return request[USER]


def language_of(request: web.Request) -> str:
    return pick_language(request.cookies.get(LANG_COOKIE), request.headers.get("Accept-Language"))


def json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def wants_html(request: web.Request) -> bool:
    return not request.path.startswith(("/api/", "/events/", "/playback/"))


def render(page: str, request: web.Request, status: int = 200, **values: str) -> web.Response:
    """A page from pages/<page>.html: {{t:key}} are texts in the reader's language, {{name}}
    are values (HTML-escaped), {{texts_json}} is every text for the page's script."""
    language = language_of(request)
    user = request.get(USER)
    values = {
        "lang": language,
        "user": user.name if user else "",
        "role": user.role if user else "",
        **values,
    }
    body = (PAGES_DIR / f"{page}.html").read_text(encoding="utf-8")
    body = re.sub(r"\{\{t:(\w+)\}\}", lambda m: html.escape(text(language, m.group(1))), body)
    texts_json = json.dumps(TEXTS[language], ensure_ascii=False).replace("</", "<\\/")
    body = body.replace("{{texts_json}}", texts_json)
    body = re.sub(r"\{\{(\w+)\}\}", lambda m: html.escape(values.get(m.group(1), "")), body)
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


def error_page(request: web.Request, status: int, message_key: str) -> web.Response:
    title = {401: "unauthorized", 403: "forbidden", 404: "not_found"}.get(status, "not_found")
    language = language_of(request)
    return render(
        "error",
        request,
        status=status,
        status_code=str(status),
        heading=text(language, title),
        message=text(language, message_key),
    )


def grpc_status(exc: grpc.aio.AioRpcError) -> int:
    return {
        grpc.StatusCode.NOT_FOUND: 404,
        grpc.StatusCode.PERMISSION_DENIED: 403,
        grpc.StatusCode.INVALID_ARGUMENT: 400,
        grpc.StatusCode.UNAVAILABLE: 503,
        grpc.StatusCode.DEADLINE_EXCEEDED: 504,
        grpc.StatusCode.UNIMPLEMENTED: 501,
    }.get(exc.code(), 502)


def grpc_reason(exc: grpc.aio.AioRpcError) -> str:
    return exc.details() or exc.code().name


def grpc_error(exc: grpc.aio.AioRpcError) -> web.Response:
    """The JSON answer to a failed upstream call: its HTTP status and the upstream's reason."""
    return json_error(grpc_status(exc), grpc_reason(exc))


async def find_call(request: web.Request, call_id: str) -> supervisor_pb2.CallOverview | None:
    """The call, when it exists and the user may see it (one of their queues)."""
    if not CALL_ID.match(call_id):
        return None
    console, user = console_of(request), user_of(request)
    reply = await console.upstream.supervisor.SearchCalls(
        supervisor_pb2.SearchCallsRequest(
            call_ids=[call_id],
            queues=[] if user.is_admin else sorted(user.queues),
            requested_by=user.name,
            limit=1,
        ),
        timeout=console.upstream.timeout_s,
    )
    for call in reply.calls:
        if call.call_id == call_id and user.sees_queue(call.queue):
            return call
    return None


async def call_or_json_error(
    request: web.Request, call_id: str
) -> supervisor_pb2.CallOverview | web.Response:
    """`find_call` for the API and event handlers: the call, or the JSON error to answer with
    (404 when it does not exist or is not in the user's queues, alike; the upstream's status
    when SearchCalls fails)."""
    try:
        call = await find_call(request, call_id)
    except grpc.aio.AioRpcError as exc:
        return grpc_error(exc)
    return json_error(404, "call not found") if call is None else call


# -- middlewares ------------------------------------------------------------------------------


@web.middleware
async def telemetry(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    route = request.match_info.route.resource
    name = route.canonical if route is not None else "unmatched"
    status = 500
    with tracer.start_as_current_span(
        f"{request.method} {name}", kind=trace.SpanKind.SERVER
    ) as span:
        span.set_attribute("http.request.method", request.method)
        span.set_attribute("http.route", name)
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            span.set_attribute("http.response.status_code", status)
            HTTP_REQUESTS.add(1, {"route": name, "status": str(status)})


@web.middleware
async def authenticate(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if request.path == "/" or request.path.startswith(PUBLIC_PREFIXES):
        return await handler(request)
    token = request.cookies.get(TOKEN_COOKIE)
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        token = header.removeprefix("Bearer ").strip()
    user = console_of(request).users.authenticate(token)
    if user is None:
        if wants_html(request):
            response = render("signin", request, status=401, error="")
        else:
            response = json_error(401, "sign in first: no valid token")
        if token:
            response.del_cookie(TOKEN_COOKIE)
        return response
    request[USER] = user
    if request.method == "POST" and request.content_type != "application/json":
        # A cross-site form cannot send JSON without a CORS preflight, which we never allow.
        return json_error(403, "POST requests must be application/json")
    return await handler(request)


# -- pages ------------------------------------------------------------------------------------


async def root(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther("/floor")


async def signin_page(request: web.Request) -> web.StreamResponse:
    return render("signin", request, error="")


async def signin(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    token = str(form.get("token") or "").strip()
    console = console_of(request)
    if console.users.authenticate(token) is None:
        return render("signin", request, status=401, error=text(language_of(request), "bad_token"))
    response = web.HTTPSeeOther("/floor")
    response.set_cookie(
        TOKEN_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=console.cookie_secure,
        max_age=12 * 3600,
    )
    raise response


async def signout(request: web.Request) -> web.StreamResponse:
    response = web.HTTPSeeOther("/signin")
    response.del_cookie(TOKEN_COOKIE)
    raise response


async def set_language(request: web.Request) -> web.StreamResponse:
    language = request.match_info["lang"]
    target = request.query.get("next", "/floor")
    if not target.startswith("/") or target.startswith("//"):
        target = "/floor"
    response = web.HTTPSeeOther(target)
    if language in LANGUAGES:
        response.set_cookie(LANG_COOKIE, language, samesite="Lax", max_age=365 * 86400)
    raise response


async def floor_page(request: web.Request) -> web.StreamResponse:
    user = user_of(request)
    queues = "" if user.is_admin else ",".join(sorted(user.queues))
    return render("floor", request, queues=queues)


async def call_page(request: web.Request) -> web.StreamResponse:
    call_id = request.match_info["call_id"]
    try:
        call = await find_call(request, call_id)
    except grpc.aio.AioRpcError as exc:
        log.warning("SearchCalls for %s failed: %s", call_id, exc.details())
        return error_page(request, grpc_status(exc), "not_found_call")
    if call is None:
        return error_page(request, 404, "not_found_call")
    return render("call", request, call_id=call_id)


async def search_page(request: web.Request) -> web.StreamResponse:
    user = user_of(request)
    queues = "" if user.is_admin else ",".join(sorted(user.queues))
    return render("search", request, queues=queues)


async def healthz(request: web.Request) -> web.StreamResponse:
    floor = console_of(request).floor
    return web.json_response({"status": "ok", "floor_connected": floor.connected.is_set()})


# -- API --------------------------------------------------------------------------------------


async def me(request: web.Request) -> web.StreamResponse:
    user = user_of(request)
    return web.json_response({"user": user.name, "role": user.role, "queues": sorted(user.queues)})


async def ack_alert(request: web.Request) -> web.StreamResponse:
    alert_id = request.match_info["alert_id"]
    console, user = console_of(request), user_of(request)
    if not console.floor.connected.is_set():
        return json_error(503, "the live floor is not connected; try again")
    queue = console.floor.state.alert_queue(alert_id)
    if queue is None or not user.sees_queue(queue):
        return json_error(404, "no open alert with this id in your queues")
    try:
        reply = await console.upstream.supervisor.AckAlert(
            supervisor_pb2.AckAlertRequest(alert_id=alert_id, acknowledged_by=user.name),
            timeout=console.upstream.timeout_s,
        )
    except grpc.aio.AioRpcError as exc:
        return grpc_error(exc)
    return web.json_response({"alert_id": reply.alert_id, "acknowledged": reply.acknowledged})


async def call_analysis(request: web.Request) -> web.StreamResponse:
    """The call after it ended: its overview and summary (GetCallAnalysis, audited)."""
    call_id = request.match_info["call_id"]
    console, user = console_of(request), user_of(request)
    call = await call_or_json_error(request, call_id)
    if isinstance(call, web.Response):
        return call
    try:
        analysis = await console.upstream.supervisor.GetCallAnalysis(
            supervisor_pb2.GetCallAnalysisRequest(
                call_id=call_id,
                requested_by=user.name,
                purpose=LIVE_PURPOSE if call.live else PAST_PURPOSE,
            ),
            timeout=console.upstream.timeout_s,
        )
    except grpc.aio.AioRpcError as exc:
        return grpc_error(exc)
    # The authoritative transcript (post-call version 2 when there is one): finals that came
    # after the live stream ended are shown too.
    transcript: list[View] = []
    transcript_error = None
    if not call.live:
        try:
            stored = await console.upstream.transcripts.GetTranscript(
                transcripts_pb2.GetTranscriptRequest(
                    call_id=call_id, requested_by=user.name, purpose=PAST_PURPOSE
                ),
                timeout=console.upstream.timeout_s,
            )
            transcript = [segment_view(s) for s in stored.segments]
        except grpc.aio.AioRpcError as exc:
            transcript_error = f"{grpc_status(exc)}: {grpc_reason(exc)}"
    return web.json_response(
        {
            "call": overview_view(analysis.call if analysis.HasField("call") else call),
            "summary": summary_view(analysis.summary) if analysis.HasField("summary") else None,
            "alerts": [alert_view(a) for a in analysis.alerts],
            "acknowledged_alert_ids": list(analysis.acknowledged_alert_ids),
            "transcript": transcript,
            "transcript_error": transcript_error,
        }
    )


async def recording(request: web.Request) -> web.StreamResponse:
    """Ask the recorder for the recording (audited; refused when the purpose no longer allows
    it) and hand the page a console playback link that expires with the signed URL."""
    call_id = request.match_info["call_id"]
    console, user = console_of(request), user_of(request)
    call = await call_or_json_error(request, call_id)
    if isinstance(call, web.Response):
        return call
    try:
        reply = await console.upstream.recorder.GetRecording(
            recorder_pb2.GetRecordingRequest(
                call_id=call_id,
                requested_by=user.name,
                purpose=PAST_PURPOSE,
                ttl_seconds=console.playback_ttl_s,
            ),
            timeout=console.upstream.timeout_s,
        )
    except grpc.aio.AioRpcError as exc:
        return grpc_error(exc)
    expires_at = float(reply.expires_at_unix or time.time() + console.playback_ttl_s)
    token = console.playback.grant(user.name, reply.url, expires_at)
    return web.json_response({"url": f"/playback/{token}", "expires_at": int(expires_at)})


async def playback(request: web.Request) -> web.StreamResponse:
    console, user = console_of(request), user_of(request)
    grant = console.playback.find(request.match_info["token"], user.name)
    if grant is None:
        return json_error(404, "this playback link is unknown or expired")
    target = urlparse(grant.url)
    if target.scheme == "file":
        path = Path(unquote(target.path))
        if not path.is_file():
            return json_error(404, "the recording object is missing")
        return web.FileResponse(path, headers={"Content-Type": audio_type(path)})
    if target.scheme not in ("http", "https"):
        return json_error(502, f"cannot play a {target.scheme!r} URL")
    # The object store's presigned URL may not be reachable from the browser: relay it.
    assert console.http is not None
    headers = {"Range": request.headers["Range"]} if "Range" in request.headers else {}
    async with console.http.get(grant.url, headers=headers) as upstream:
        response = web.StreamResponse(status=upstream.status)
        for name in ("Content-Type", "Content-Length", "Content-Range", "Accept-Ranges"):
            if name in upstream.headers:
                response.headers[name] = upstream.headers[name]
        await response.prepare(request)
        async for chunk in upstream.content.iter_chunked(64 * 1024):
            await response.write(chunk)
        await response.write_eof()
        return response


AUDIO_MAGIC = {b"fLaC": "audio/flac", b"RIFF": "audio/wav", b"OggS": "audio/ogg"}


def audio_type(path: Path) -> str:
    """The recording's media type, from its first bytes (object keys may have no suffix)."""
    with path.open("rb") as audio:
        return AUDIO_MAGIC.get(audio.read(4), "application/octet-stream")


def _day(value: str, name: str, end: bool = False) -> datetime | None:
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"{name} must be a date YYYY-MM-DD, got {value!r}"}),
            content_type="application/json",
        ) from None
    return day + timedelta(days=1) if end else day


async def search(request: web.Request) -> web.StreamResponse:
    """Transcripts.SearchTranscripts for words, then Supervisor.SearchCalls for the rest, always
    restricted to the user's queues."""
    console, user = console_of(request), user_of(request)
    query = request.query
    try:
        queues = user.visible_queues([query.get("queue", "").strip()])
    except PermissionError as exc:
        return json_error(403, str(exc))
    sentiment = query.get("sentiment", "").strip()
    if sentiment and sentiment not in SENTIMENTS:
        return json_error(400, f"sentiment must be one of {', '.join(SENTIMENTS)}")
    started_from = _day(query.get("from", "").strip(), "from")
    started_to = _day(query.get("to", "").strip(), "to", end=True)
    words = query.get("text", "").strip()
    snippets: dict[str, list[str]] = {}
    request_calls = supervisor_pb2.SearchCallsRequest(
        agent_id=query.get("agent", "").strip(),
        queues=queues or [],
        category=query.get("category", "").strip(),
        sentiment_label=sentiment,
        limit=50,
        requested_by=user.name,
    )
    if started_from:
        request_calls.started_from.FromDatetime(started_from)
    if started_to:
        request_calls.started_to.FromDatetime(started_to)
    try:
        if words:
            hits = await console.upstream.transcripts.SearchTranscripts(
                transcripts_pb2.SearchTranscriptsRequest(
                    query=words, limit=200, requested_by=user.name, purpose=PAST_PURPOSE
                ),
                timeout=console.upstream.timeout_s,
            )
            for hit in hits.hits:
                snippets.setdefault(hit.call_id, [])
                if len(snippets[hit.call_id]) < 3:
                    snippets[hit.call_id].append(hit.snippet or hit.text)
            if not snippets:
                return web.json_response({"calls": []})
            request_calls.call_ids.extend(snippets)
        reply = await console.upstream.supervisor.SearchCalls(
            request_calls, timeout=console.upstream.timeout_s
        )
    except grpc.aio.AioRpcError as exc:
        return grpc_error(exc)
    calls: list[View] = []
    for call in reply.calls:
        if not user.sees_queue(call.queue):
            continue
        calls.append({**overview_view(call), "snippets": snippets.get(call.call_id, [])})
    return web.json_response({"calls": calls})


# -- live streams -----------------------------------------------------------------------------


async def floor_events(request: web.Request) -> web.StreamResponse:
    console, user = console_of(request), user_of(request)
    try:
        queues = user.visible_queues([request.query.get("queue", "").strip()])
    except PermissionError as exc:
        return json_error(403, str(exc))
    severity = request.query.get("severity", "").strip() or "info"
    if severity not in SEVERITY_RANK:
        return json_error(400, f"severity must be one of {', '.join(SEVERITY_RANK)}")
    SSE_CLIENTS.add(1, {"stream": "floor"})
    try:
        with console.floor.subscribe() as updates:
            async with sse_response(request) as sse:
                number = 0
                while sse.is_connected():
                    event = await updates.get()
                    if event is None:
                        break  # too slow: the page reconnects and gets a fresh snapshot
                    if event.name != "reset" and not event.visible_to(user, queues, severity):
                        continue
                    number += 1
                    await sse.send(json.dumps(event.data), id=str(number), event=event.name)
                return sse
    finally:
        SSE_CLIENTS.add(-1, {"stream": "floor"})


async def call_events(request: web.Request) -> web.StreamResponse:
    call_id = request.match_info["call_id"]
    console, user = console_of(request), user_of(request)
    call = await call_or_json_error(request, call_id)
    if isinstance(call, web.Response):
        return call
    last_event_id = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
    resumed = console.calls.resumable(user, call_id, last_event_id)
    if resumed is not None:
        feed, after = resumed
    else:
        feed = console.calls.open(user, call_id, LIVE_PURPOSE if call.live else PAST_PURPOSE)
        after = None
    SSE_CLIENTS.add(1, {"stream": "call"})
    try:
        with console.calls.attached(feed):
            async with sse_response(request) as sse:
                if after is None:
                    # A new visit, or a feed the gateway no longer has: start the page over.
                    await sse.send("{}", event="reset", id=feed.event_id(0))
                    after = 0
                async for number, name, data in feed.follow(after):
                    await sse.send(json.dumps(data), id=feed.event_id(number), event=name)
                error: FeedError | None = feed.error
                if error is not None:
                    body = {"status": error.status, "message": error.message}
                    await sse.send(json.dumps(body), event="failed")
                else:
                    await sse.send("{}", event="end")
                return sse
    finally:
        SSE_CLIENTS.add(-1, {"stream": "call"})


# -- the application --------------------------------------------------------------------------


def build_app(console: Console) -> web.Application:
    app = web.Application(middlewares=[telemetry, authenticate])
    app[CONSOLE] = console

    async def session(app: web.Application) -> Any:
        console.http = aiohttp.ClientSession()
        yield
        await console.http.close()
        await console.calls.close()

    app.cleanup_ctx.append(session)
    app.router.add_get("/", root)
    app.router.add_get("/signin", signin_page)
    app.router.add_post("/signin", signin)
    app.router.add_post("/signout", signout)
    app.router.add_get("/lang/{lang}", set_language)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/floor", floor_page)
    app.router.add_get("/calls/{call_id}", call_page)
    app.router.add_get("/search", search_page)
    app.router.add_get("/api/me", me)
    app.router.add_get("/api/search", search)
    app.router.add_get("/api/calls/{call_id}/analysis", call_analysis)
    app.router.add_post("/api/calls/{call_id}/recording", recording)
    app.router.add_post("/api/alerts/{alert_id}/ack", ack_alert)
    app.router.add_get("/playback/{token}", playback)
    app.router.add_get("/events/floor", floor_events)
    app.router.add_get("/events/calls/{call_id}", call_events)
    app.router.add_static("/static/", STATIC_DIR, append_version=False)
    return app
