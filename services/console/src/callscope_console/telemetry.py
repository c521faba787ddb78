"""The console's metrics, declared once like every other service's (callscope_core.metrics)."""

from __future__ import annotations

from callscope_core import metrics

HTTP_REQUESTS = metrics.counter(
    metrics.declare(
        "callscope.console.http.requests",
        metrics.Kind.COUNTER,
        "{request}",
        "HTTP requests answered by the console, by route and status.",
        ("route", "status"),
        service="console",
    )
)
SSE_CLIENTS = metrics.up_down_counter(
    metrics.declare(
        "callscope.console.sse.clients",
        metrics.Kind.UP_DOWN_COUNTER,
        "{client}",
        "Browsers connected to a live stream (floor or call).",
        ("stream",),
        service="console",
    )
)
UPSTREAM_RECONNECTS = metrics.counter(
    metrics.declare(
        "callscope.console.upstream.reconnects",
        metrics.Kind.COUNTER,
        "{reconnect}",
        "Live gRPC streams to the analyzer re-opened after they broke.",
        ("stream",),
        service="console",
    )
)
