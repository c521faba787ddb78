"""The supervisor console in a real browser (Debian's chromium, driven by Playwright) on the real
local stack: the escalation call goes in over SIPREC with SIPp and is followed on the pages.

Set CALLSCOPE_CONSOLE_E2E_STACK=<dir of a running `callscope stack up`> to run these against an
already running stack, and CALLSCOPE_CONSOLE_LATENCY_CALLS=N (default 1) to measure the delay
from the trigger phrase's FINAL to the alert on the page over N calls (p50/p95 printed).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml

from callscope.v1 import common_pb2, events_pb2
from callscope_core import stack as local_stack
from callscope_core.devtools import SampleCall, TopicTail, run_sipp
from callscope_core.kafka import EventProducer
from callscope_core.settings import CoreSettings
from callscope_core.topics import ALERTS, CALL_EVENTS, CALL_SUMMARIES, TRANSCRIPTS

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
ESCALATION = SampleCall(REPO / "tests" / "data" / "calls" / "escalation_en")
SCREENSHOTS = REPO / "docs" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LATENCY_CALLS = int(os.environ.get("CALLSCOPE_CONSOLE_LATENCY_CALLS", "1"))


@dataclass
class Site:
    url: str
    tokens: dict[str, str]
    endpoints: dict[str, Any]


@pytest.fixture(scope="module")
def site(request: pytest.FixtureRequest) -> Site:
    running = os.environ.get("CALLSCOPE_CONSOLE_E2E_STACK")
    state = local_stack.status(Path(running)) if running else request.getfixturevalue("stack")
    endpoints = state["endpoints"]
    users = yaml.safe_load(Path(endpoints["console_users"]).read_text())["users"]
    return Site(
        endpoints["console_url"].rstrip("/"), {u["user"]: u["token"] for u in users}, endpoints
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            "Debian chromium is needed for the console's browser tests: make system-packages"
        )
    with playwright_api.sync_playwright() as playwright:
        # As root (CI containers) chromium's sandbox cannot start.
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        yield launched
        launched.close()


def signed_in(browser: Any, site: Site, user: str, locale: str = "en-US") -> Any:
    context = browser.new_context(locale=locale, viewport={"width": 1440, "height": 900})
    context.add_cookies([{"name": "callscope_token", "value": site.tokens[user], "url": site.url}])
    return context


def open_floor(context: Any, site: Site) -> Any:
    page = context.new_page()
    page.goto(f"{site.url}/floor")
    page.wait_for_function("window.consoleFloor && window.consoleFloor.open", timeout=10_000)
    return page


@dataclass
class SentCall:
    """One escalation call sent over SIPREC, with what Kafka carried about it (epoch seconds)."""

    endpoints: dict[str, Any]
    workdir: Path
    call_id: str | None = None
    finals: dict[tuple[int, int], float] = field(default_factory=dict)  # (channel, no) -> time
    alert: events_pb2.SupervisorAlert | None = None
    summary: bool = False
    sipp_returncode: int | None = None
    error: BaseException | None = None
    started = threading.Event()
    alerted = threading.Event()

    def __post_init__(self) -> None:
        self.started = threading.Event()
        self.alerted = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._send())
        except BaseException as exc:
            self.error = exc
            self.started.set()
            self.alerted.set()

    async def _send(self) -> None:
        endpoints = self.endpoints
        tail = TopicTail(
            endpoints["kafka_bootstrap"],
            [CALL_EVENTS.name, TRANSCRIPTS.name, ALERTS.name, CALL_SUMMARIES.name],
        )
        await tail.start()
        sipp = asyncio.create_task(
            run_sipp(ESCALATION, endpoints["sip_host"], endpoints["sip_port"], self.workdir)
        )
        deadline = time.monotonic() + 180
        try:
            while time.monotonic() < deadline and not (
                sipp.done() and self.summary and self.alert is not None
            ):
                for _, message in await tail.poll(0.2):
                    received = time.time()
                    self._record(message, received)
        finally:
            await tail.stop()
            self.sipp_returncode = (await sipp).returncode

    def _record(self, message: Any, received: float) -> None:
        if isinstance(message, events_pb2.CallStarted) and self.call_id is None:
            self.call_id = message.call_id
            self.started.set()
        if getattr(message, "call_id", None) != self.call_id:
            return
        if (
            isinstance(message, events_pb2.TranscriptSegment)
            and message.kind == events_pb2.TranscriptSegment.KIND_FINAL
        ):
            published = message.meta.occurred_at
            at = published.ToMilliseconds() / 1000 if published.seconds else received
            self.finals[(message.channel, message.utterance_no)] = at
        elif isinstance(message, events_pb2.SupervisorAlert) and self.alert is None:
            self.alert = message
            self.alerted.set()
        elif isinstance(message, events_pb2.CallSummary):
            self.summary = True

    def start(self) -> SentCall:
        self.thread.start()
        return self

    def trigger_final_at(self) -> float:
        """When the FINAL of the utterance that completed the alert's evidence was published."""
        assert self.alert is not None
        last = max(self.alert.evidence, key=lambda e: e.at_ms)
        return self.finals[(last.channel, last.utterance_no)]


def alert_delay_s(floor: Any, call: SentCall, timeout_s: float = 150) -> tuple[str, float]:
    """Wait for the call's alert on the floor page; the delay from its trigger FINAL."""
    item = floor.locator(f'li.alert[data-call-id="{call.call_id}"]')
    item.first.wait_for(timeout=timeout_s * 1000)
    alert_id = item.first.get_attribute("data-alert-id")
    seen_ms = floor.evaluate(f"window.consoleFloor.alertSeenAt[{json.dumps(alert_id)}]")
    assert call.alerted.wait(30), "the alert never reached Kafka's callscope.alerts"
    assert call.alert is not None and call.alert.alert_id == alert_id
    return alert_id, seen_ms / 1000 - call.trigger_final_at()


def test_a_live_escalation_call_followed_on_the_console(
    browser: Any, site: Site, tmp_path_factory: pytest.TempPathFactory
) -> None:
    billing = signed_in(browser, site, "supervisor-billing")
    admin = signed_in(browser, site, "admin")
    support = signed_in(browser, site, "supervisor-support")
    floor, floor_admin, floor_support = (open_floor(c, site) for c in (billing, admin, support))

    call = SentCall(site.endpoints, tmp_path_factory.mktemp("sipp-console")).start()
    assert call.started.wait(60), "no CallStarted on Kafka"
    assert call.error is None, call.error
    call_id = call.call_id
    row = floor.locator(f'tr.call-row[data-call-id="{call_id}"]')
    row.wait_for(timeout=20_000)
    cells = row.locator("td").all_inner_texts()
    agent = cells[0]
    assert agent and cells[2] == "billing"
    assert "•" in cells[1] and "612345" not in cells[1], cells  # the number is masked
    # The duration ticks in the page (no polling of the server: a local timer).
    duration = row.locator("td.duration")
    first_duration = duration.inner_text()
    floor.wait_for_function(
        f"(document.querySelector('tr[data-call-id=\"{call_id}\"] td.duration') || "
        f"{{textContent: 'gone'}}).textContent !== {json.dumps(first_duration)}",
        timeout=5_000,
    )

    # The call view: its transcript starts while the call goes on (and grows: checked at the end).
    view = billing.new_page()
    view.goto(f"{site.url}/calls/{call_id}")
    lines = view.locator("#transcript li.line")
    lines.first.wait_for(timeout=150_000)
    first_count = lines.count()
    # A dropped live stream resumes from the last event id: nothing comes twice (checked below;
    # a replay from the start would repeat the finals received before the drop).
    view.locator("#transcript li.line.final").first.wait_for(timeout=150_000)
    before_drop = view.evaluate("window.consoleCall.finalsReceived.length")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    if row.count():  # the floor while the call is live (on a loaded machine it may be over)
        floor.screenshot(path=str(SCREENSHOTS / "floor-live.png"), full_page=True)
    view.evaluate("window.consoleCall.dropAndResume()")

    # The alert arrives live on every page allowed to see it, with rule and evidence.
    alert_id, delay_s = alert_delay_s(floor, call)
    print(f"\nalert on the page {delay_s:.2f} s after its trigger FINAL was published")
    assert delay_s < 10.0, delay_s
    item = floor.locator(f'li.alert[data-alert-id="{alert_id}"]')
    assert item.locator(".rule").inner_text() == call.alert.kind
    assert item.locator("blockquote.evidence").count() >= 1
    floor_admin.locator(f'li.alert[data-alert-id="{alert_id}"]').wait_for(timeout=10_000)
    # The severity filter is applied by the server: a "critical only" floor drops this warning.
    severity = call.alert.severity
    if severity != events_pb2.SupervisorAlert.SEVERITY_CRITICAL:
        floor_admin.select_option("#severity-filter", "critical")
        floor_admin.locator(f'li.alert[data-alert-id="{alert_id}"]').wait_for(
            state="detached", timeout=10_000
        )
        floor_admin.select_option("#severity-filter", "info")
        floor_admin.locator(f'li.alert[data-alert-id="{alert_id}"]').wait_for(timeout=10_000)
    view.locator(f'#alerts li.alert[data-alert-id="{alert_id}"]').wait_for(timeout=10_000)
    view.locator("#transcript li.line.evidence").first.wait_for(timeout=10_000)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    floor.screenshot(path=str(SCREENSHOTS / "floor.png"), full_page=True)

    # Acknowledge on one page clears the alert on every open floor.
    item.locator("button.ack").click()
    for page in (floor, floor_admin):
        page.locator(f'li.alert[data-alert-id="{alert_id}"]').wait_for(
            state="detached", timeout=10_000
        )

    view.locator(f'#alerts li.alert.acked[data-alert-id="{alert_id}"]').wait_for(timeout=10_000)

    # The call ends: it leaves the floor; the view shows the summary and can play the recording.
    row.wait_for(state="detached", timeout=120_000)
    view.locator("#call-status.ended").wait_for(timeout=180_000)
    view.locator("#summary dt").first.wait_for(timeout=60_000)
    view.wait_for_function(
        f"document.querySelectorAll('#transcript li.line').length > {first_count}",
        timeout=60_000,
    )
    assert view.locator("#transcript li.line.partial").count() == 0
    keys = view.eval_on_selector_all("#transcript li.line", "ls => ls.map(l => l.dataset.key)")
    assert len(keys) == len(set(keys)) > first_count, keys
    finals = view.evaluate("window.consoleCall.finalsReceived")
    assert before_drop >= 1 and len(finals) == len(set(finals)), finals
    assert all(t.strip() for t in view.locator("#transcript .text").all_inner_texts())

    call.thread.join(120)
    assert call.sipp_returncode == 0
    view.locator("#play").click()
    audio = view.locator("#audio")
    audio.wait_for(state="visible", timeout=15_000)
    source = audio.get_attribute("src")
    assert source and source.startswith("/playback/")
    recording = view.request.get(f"{site.url}{source}")
    assert recording.status == 200
    # The recorder stores FLAC (WAV before): what is played is the stored object itself.
    kind = {b"fLaC": "audio/flac", b"RIFF": "audio/wav"}[recording.body()[:4]]
    assert recording.headers["content-type"] == kind
    assert view.evaluate("document.getElementById('audio').error") is None
    assert admin.request.get(f"{site.url}{source}").status == 404  # the link is bea's only
    view.screenshot(path=str(SCREENSHOTS / "call.png"), full_page=True)

    # The supervisor of another queue never received the call nor its alert.
    assert (
        floor_support.evaluate(f"window.consoleFloor.seenCalls.has({json.dumps(call_id)})") is False
    )
    assert floor_support.evaluate("Object.keys(window.consoleFloor.alertSeenAt)") == []
    assert floor_admin.evaluate(f"window.consoleFloor.seenCalls.has({json.dumps(call_id)})")
    assert support.request.get(f"{site.url}/calls/{call_id}").status == 404
    assert support.request.get(f"{site.url}/events/calls/{call_id}").status == 404
    assert (
        support.request.post(
            f"{site.url}/api/calls/{call_id}/recording",
            data="{}",
            headers={"Content-Type": "application/json"},
        ).status
        == 404
    )

    # Search: the words said, within the user's queues; a result opens the call view.
    search = billing.new_page()
    search.goto(f"{site.url}/search")
    search.fill("#search-text", "agent")
    search.click("#search-form button[type=submit]")
    result = search.locator(f'tr.result[data-call-id="{call_id}"]')
    result.wait_for(timeout=20_000)
    assert result.locator("mark").count() >= 1
    search.screenshot(path=str(SCREENSHOTS / "search.png"), full_page=True)
    # By agent and date (Supervisor.SearchCalls), the filters read from the page's address.
    today = time.strftime("%Y-%m-%d", time.gmtime())
    search.goto(f"{site.url}/search?agent={quote(agent)}&from={today}&to={today}")
    search.locator(f'tr.result[data-call-id="{call_id}"]').wait_for(timeout=20_000)
    assert search.input_value("#search-agent") == agent
    result.locator("a").first.click()
    search.wait_for_url(f"**/calls/{call_id}")
    for context in (billing, admin, support):
        context.close()


def test_without_a_token_nothing_is_shown_and_wrong_ids_get_clear_pages(
    browser: Any, site: Site
) -> None:
    anonymous = browser.new_context()
    page = anonymous.new_page()
    response = page.goto(f"{site.url}/floor")
    assert response.status == 401
    assert page.locator("input#token").count() == 1
    page.fill("input#token", "not-the-right-token")
    page.click("button[type=submit]")
    assert "not valid" in page.locator(".error").inner_text()
    api = anonymous.request
    assert api.get(f"{site.url}/events/floor").status == 401
    assert api.get(f"{site.url}/api/search?text=agent").status == 401
    wrong = browser.new_context()
    wrong.add_cookies([{"name": "callscope_token", "value": "x" * 20, "url": site.url}])
    reply = wrong.request.get(f"{site.url}/api/search")
    assert reply.status == 401 and "calls" not in reply.text()
    # Signing in through the page with a real token opens the floor.
    page.fill("input#token", site.tokens["supervisor-billing"])
    page.click("button[type=submit]")
    page.wait_for_url("**/floor")
    page.wait_for_function("window.consoleFloor && window.consoleFloor.open", timeout=10_000)
    assert page.request.get(f"{site.url}/events/floor?queue=support").status == 403
    missing = page.goto(f"{site.url}/calls/no-such-call")
    assert missing.status == 404
    assert "No call with this id" in page.locator("#error-page").inner_text()
    anonymous.close()
    wrong.close()


def test_french_interface(browser: Any, site: Site) -> None:
    context = signed_in(browser, site, "supervisor-billing", locale="fr-FR")
    page = open_floor(context, site)
    assert page.locator("html").get_attribute("lang") == "fr"
    assert "Appels en cours" in page.locator("main").inner_text()
    page.click("a.lang[data-lang=en]")
    page.wait_for_url("**/floor")
    assert "Live calls" in page.locator("main").inner_text()
    context.close()


CHINESE = "我要和真人说话，现在就要！"  # noqa: RUF001 - full-width punctuation on purpose
RUSSIAN = "Здравствуйте, чем могу помочь?"


async def _publish(endpoints: dict[str, Any], call_id: str, messages: list[Any]) -> None:
    settings = CoreSettings(
        kafka_bootstrap_servers=endpoints["kafka_bootstrap"], kafka_idempotence=False
    )
    producer = EventProducer(settings, "console-e2e")
    await producer.start()
    try:
        for message in messages:
            topic = (
                TRANSCRIPTS if isinstance(message, events_pb2.TranscriptSegment) else CALL_EVENTS
            )
            await producer.publish(topic, call_id, message)
    finally:
        await producer.stop()


def publish(endpoints: dict[str, Any], call_id: str, messages: list[Any]) -> None:
    """Put events on Kafka as the recorder and the transcriber would. Playwright's sync API
    holds this thread's event loop, so the producer runs in another thread."""
    thread = threading.Thread(target=asyncio.run, args=(_publish(endpoints, call_id, messages),))
    thread.start()
    thread.join(60)


def multilingual_call(call_id: str) -> list[Any]:
    """A live call whose finals are Russian (agent) and Chinese (customer)."""
    started = events_pb2.CallStarted(
        call_id=call_id,
        source="grpc",
        queue="billing",
        language="zh",
        agent_id="agent-7",
        participants=[
            events_pb2.Participant(aor="+8613800138000", channel=common_pb2.CHANNEL_CUSTOMER),
            events_pb2.Participant(aor="agent-7", channel=common_pb2.CHANNEL_AGENT),
        ],
    )
    started.started_at.GetCurrentTime()
    finals = [
        events_pb2.TranscriptSegment(
            call_id=call_id,
            channel=channel,
            utterance_no=0,
            version=1,
            kind=events_pb2.TranscriptSegment.KIND_FINAL,
            text=text,
            language=language,
            start_ms=no * 3000,
            end_ms=no * 3000 + 2500,
        )
        for no, (channel, text, language) in enumerate(
            [
                (common_pb2.CHANNEL_AGENT, RUSSIAN, "ru"),
                (common_pb2.CHANNEL_CUSTOMER, CHINESE, "zh"),
            ]
        )
    ]
    return [started, *finals]


def test_cyrillic_and_chinese_transcripts_render(browser: Any, site: Site) -> None:
    call_id = f"console-e2e-{uuid.uuid4()}"
    publish(site.endpoints, call_id, multilingual_call(call_id))
    context = signed_in(browser, site, "supervisor-billing")
    page = context.new_page()
    deadline = time.monotonic() + 60
    while page.goto(f"{site.url}/calls/{call_id}").status == 404:  # until the analyzer has it
        assert time.monotonic() < deadline, "the analyzer never listed the call"
        time.sleep(1)
    page.locator("#transcript li.line").nth(1).wait_for(timeout=60_000)
    texts = page.locator("#transcript .text").all_inner_texts()
    assert texts == [RUSSIAN, CHINESE], texts  # UTF-8 end to end, in time order
    assert page.locator("#transcript li.line.customer").get_attribute("lang") == "zh"
    font = page.evaluate("getComputedStyle(document.body).fontFamily")
    assert "WenQuanYi Zen Hei" in font and "Noto Sans CJK SC" in font
    page.screenshot(path=str(SCREENSHOTS / "call-zh-ru.png"))
    ended = events_pb2.CallEnded(call_id=call_id, duration_ms=6000, reason="bye")
    ended.ended_at.GetCurrentTime()
    publish(site.endpoints, call_id, [ended])
    page.locator("#call-status.ended").wait_for(timeout=60_000)
    context.close()


@pytest.mark.skipif(LATENCY_CALLS < 2, reason="set CALLSCOPE_CONSOLE_LATENCY_CALLS=N to measure")
def test_alert_delay_over_several_calls(
    browser: Any, site: Site, tmp_path_factory: pytest.TempPathFactory
) -> None:
    context = signed_in(browser, site, "supervisor-billing")
    floor = open_floor(context, site)
    delays = []
    for _ in range(LATENCY_CALLS):
        call = SentCall(site.endpoints, tmp_path_factory.mktemp("sipp-latency")).start()
        assert call.started.wait(60)
        _, delay = alert_delay_s(floor, call)
        delays.append(delay)
        call.thread.join(180)
    delays.sort()
    p95 = delays[min(len(delays) - 1, round(0.95 * (len(delays) - 1)))]
    print(
        f"\nalert delay over {len(delays)} calls: p50 {statistics.median(delays):.2f} s,"
        f" p95 {p95:.2f} s, all {[round(d, 2) for d in delays]}"
    )
    assert max(delays) < 10.0
    context.close()
