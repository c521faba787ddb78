"""Wiring of the console: the service runtime (logs, traces, metrics, gRPC health), the
upstream gRPC clients, the floor hub and the HTTP server.

Why a gateway beside the analyzer rather than pages served by the analyzer itself: it reads
the same live gRPC streams any client can, so it scales with the number of browsers (one
upstream WatchFloor per gateway, fanned out) and fails on its own, while the analyzer stays a
pure stream processor with no HTTP, sessions or static files to carry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web

from callscope_core.runtime import ServiceRuntime
from callscope_core.settings import CoreSettings

from .domain.access import UserDirectory
from .feeds import CallFeeds, FloorHub
from .settings import ConsoleSettings
from .upstream import Upstream
from .web import Console, build_app

log = logging.getLogger(__name__)


def load_users(settings: ConsoleSettings) -> UserDirectory:
    if settings.users:
        return UserDirectory.from_yaml(settings.users, "CALLSCOPE_CONSOLE_USERS")
    assert settings.users_file is not None
    return UserDirectory.from_file(settings.users_file)


async def start_http(console: Console, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve the console; returns the runner and the port it listens on (port 0: any)."""
    # Cancel a handler when its browser goes away, so live streams let go of their feeds.
    runner = web.AppRunner(build_app(console), handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
    bound = sockets[0].getsockname()[1] if sockets else port
    return runner, int(bound)


async def run(
    core: CoreSettings, settings: ConsoleSettings, users: UserDirectory, stop: asyncio.Event
) -> None:
    async with ServiceRuntime("console", core, grpc_port=settings.grpc_port) as rt:
        upstream = Upstream(
            settings.analyzer_target,
            settings.transcriber_target,
            settings.recorder_target,
            settings.upstream_timeout_s,
        )
        floor = FloorHub(upstream.supervisor, upstream.analyzer_ready)
        console = Console(
            users=users,
            upstream=upstream,
            floor=floor,
            calls=CallFeeds(upstream.supervisor, linger_s=settings.call_feed_linger_s),
            playback_ttl_s=settings.playback_ttl_s,
            cookie_secure=settings.cookie_secure,
        )
        runner, port = await start_http(console, settings.http_host, settings.http_port)
        log.info("console on http://%s:%d/ (%d users)", settings.http_host, port, len(users))
        try:
            await rt.serve(stop, background=[floor.run])
        finally:
            with contextlib.suppress(Exception):
                await runner.cleanup()
            await upstream.close()
