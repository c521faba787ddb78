"""callscope.v1.Transcripts over gRPC against real PostgreSQL and a real retention CheckAccess.

Retention runs in-process (its engine and gRPC servicer on its own schema), fed the CallStarted
and RecordingStored events that grant each call its purposes; the transcriber's servicer asks it
over gRPC like in production. Search is checked per language (stemming for en/fr/ru, character
bigrams for zh), with the authoritative version only, and with refused calls withheld.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import grpc
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from callscope.v1 import (
    common_pb2,
    events_pb2,
    retention_pb2,
    retention_pb2_grpc,
    transcripts_pb2,
    transcripts_pb2_grpc,
)
from callscope_core.access import AccessGate
from callscope_core.db import apply_migrations, migrations_dir, open_pool
from callscope_core.kafka import ConsumedEvent, EventProducer
from callscope_core.settings import CoreSettings
from callscope_core.stack import free_port
from callscope_core.topics import CALL_EVENTS
from callscope_retention.engine import RetentionEngine
from callscope_retention.grpc_api import RetentionServicer
from callscope_retention.settings import RetentionSettings
from callscope_transcriber.grpc_api import TranscriptsService
from callscope_transcriber.store import TranscriptStore, mark_cjk

pytestmark = pytest.mark.integration

CUSTOMER, AGENT = common_pb2.CHANNEL_CUSTOMER, common_pb2.CHANNEL_AGENT

# (call, purposes granted by its recording, [(channel, version, language, text)])
CALLS: list[tuple[str, tuple[str, ...], list[tuple[int, int, str, str]]]] = [
    (
        "call-en",
        ("quality", "analytics"),
        [
            (CUSTOMER, 1, "en", "I never received the invoices for March."),
            (AGENT, 1, "en", "Let me check your account balance."),
            (CUSTOMER, 1, "en", "I want to cancel my subscription."),
        ],
    ),
    (
        "call-fr",
        ("quality",),
        [
            (CUSTOMER, 1, "fr", "Je n'ai pas reçu ma facture ce mois-ci."),
            (AGENT, 1, "fr", "Je vérifie votre abonnement tout de suite."),
        ],
    ),
    (
        "call-ru",
        ("quality",),
        [(CUSTOMER, 1, "ru", "Я хочу оплатить счета за телефон.")],
    ),
    (
        "call-zh",
        ("quality",),
        [(CUSTOMER, 1, "zh", "我想查询我的账户余额，谢谢。")],  # noqa: RUF001
    ),
    (
        # Post-call version 2 corrected the live text: only v2 is searched and served by default.
        "call-v2",
        ("quality",),
        [
            (CUSTOMER, 1, "en", "The invoice number is wrong, it says one two tree."),
            (CUSTOMER, 2, "en", "The invoice number is wrong, it says one two three."),
        ],
    ),
    # Kept only as proof: a quality reviewer may not read it.
    ("call-proof", ("proof",), [(CUSTOMER, 1, "en", "Please send the invoice again.")]),
]


def _segment(call_id: str, n: int, channel: int, version: int, lang: str, text: str):
    words = [
        events_pb2.Word(text=w, start_ms=n * 5000 + i * 300, end_ms=n * 5000 + i * 300 + 250)
        for i, w in enumerate(text.split())
    ]
    return events_pb2.TranscriptSegment(
        call_id=call_id,
        channel=channel,
        utterance_no=n,
        version=version,
        kind=events_pb2.TranscriptSegment.KIND_FINAL,
        text=text,
        language=lang,
        confidence=0.9,
        start_ms=n * 5000,
        end_ms=n * 5000 + 4000,
        words=words,
    )


@pytest.fixture(scope="module")
def db_url(postgres_url: str) -> Iterator[str]:
    name = f"transcripts_api_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(postgres_url)._replace(path=f"/{name}"))
    for service in ("transcriber", "retention"):
        apply_migrations(url, service, migrations_dir(f"callscope_{service}"))
    yield url
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Api:
    pool: AsyncConnectionPool
    stub: transcripts_pb2_grpc.TranscriptsStub
    retention: retention_pb2_grpc.RetentionStub
    target: str


async def _start_server(add: object, servicer: object) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server()
    add(servicer, server)  # type: ignore[operator]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


@pytest.fixture
async def api(db_url: str, kafka_bootstrap: str) -> AsyncIterator[Api]:
    pool = await open_pool(db_url, 4)
    async with pool.connection() as conn:
        await conn.execute("TRUNCATE transcriber.utterances")
    core = CoreSettings(kafka_bootstrap_servers=kafka_bootstrap, kafka_idempotence=False)
    producer = EventProducer(core, "retention-test")
    await producer.start()
    engine = RetentionEngine(pool, producer, RetentionSettings())
    await engine.start()
    store = TranscriptStore(pool)
    suffix = uuid.uuid4().hex[:6]  # retention's registry is not truncated between tests
    for call_id, purposes, utterances in CALLS:
        cid = f"{call_id}-{suffix}"
        started = events_pb2.CallStarted(call_id=cid, source="siprec", queue="support")
        started.started_at.GetCurrentTime()
        stored = events_pb2.RecordingStored(
            call_id=cid,
            object_key=f"recordings/{cid}.wav",
            bucket="callscope-recordings",
            content_type="audio/wav",
            size_bytes=44,
            sha256="0" * 64,
            queue="support",
            purposes=list(purposes),
        )
        for message in (started, stored):
            await engine.on_event(ConsumedEvent(CALL_EVENTS.name, 0, 0, cid, message, (), 0))
        for n, (channel, version, lang, text) in enumerate(utterances):
            # A v2 row corrects the v1 row before it: same utterance number.
            number = n - 1 if version == 2 else n
            assert await store.save_final(_segment(cid, number, channel, version, lang, text))
    retention_server, retention_target = await _start_server(
        retention_pb2_grpc.add_RetentionServicer_to_server, RetentionServicer(engine)
    )
    gate = AccessGate(retention_target)
    server, target = await _start_server(
        transcripts_pb2_grpc.add_TranscriptsServicer_to_server, TranscriptsService(store, gate)
    )
    async with (
        grpc.aio.insecure_channel(target) as channel,
        grpc.aio.insecure_channel(retention_target) as rchannel,
    ):
        api = Api(
            pool,
            transcripts_pb2_grpc.TranscriptsStub(channel),
            retention_pb2_grpc.RetentionStub(rchannel),
            target,
        )
        api.suffix = suffix  # type: ignore[attr-defined]
        yield api
    await server.stop(0)
    await retention_server.stop(0)
    await gate.close()
    await producer.stop()
    await pool.close()


def cid(api: Api, name: str) -> str:
    return f"{name}-{api.suffix}"  # type: ignore[attr-defined]


async def search(api: Api, query: str, **kw: object) -> transcripts_pb2.SearchTranscriptsResponse:
    kw.setdefault("requested_by", "qa-lead")
    kw.setdefault("purpose", "quality")
    return await api.stub.SearchTranscripts(
        transcripts_pb2.SearchTranscriptsRequest(query=query, **kw)  # type: ignore[arg-type]
    )


async def test_search_stems_per_language_and_marks_matches(api: Api) -> None:
    en = await search(api, "invoice")  # "invoices" in call-en, "invoice" in call-v2 / call-proof
    by_call = {h.call_id: h for h in en.hits}
    assert set(by_call) == {cid(api, "call-en"), cid(api, "call-v2")}
    assert "[invoices]" in by_call[cid(api, "call-en")].snippet
    assert by_call[cid(api, "call-v2")].version == 2  # the authoritative version only
    assert "three" in by_call[cid(api, "call-v2")].text
    assert en.withheld_calls == 1  # call-proof: retention refused "quality" for it
    assert all(h.rank > 0 and h.language == "en" for h in en.hits)

    fr = await search(api, "factures")  # French stemmer: facture ~ factures
    assert [h.call_id for h in fr.hits] == [cid(api, "call-fr")]
    assert "[facture]" in fr.hits[0].snippet and fr.hits[0].channel == CUSTOMER

    ru = await search(api, "счёт оплата")  # Russian stemmer: счета/счёт, оплатить/оплата
    assert [h.call_id for h in ru.hits] == [cid(api, "call-ru")]
    assert "[счета]" in ru.hits[0].snippet

    zh = await search(api, "账户")  # two characters inside an unspaced Chinese clause
    assert [h.call_id for h in zh.hits] == [cid(api, "call-zh")]
    assert zh.hits[0].snippet == "我想查询我的[账户]余额，谢谢。"  # noqa: RUF001
    assert (await search(api, "账余")).hits == []  # not a substring: no false bigram match
    assert len((await search(api, "查询我的账户")).hits) == 1  # longer phrase still matches
    # Stored in Simplified (the default CHINESE_SCRIPT): a query in Traditional finds it too.
    traditional = await search(api, "查詢我的賬戶")
    assert [h.call_id for h in traditional.hits] == [cid(api, "call-zh")]


async def test_search_filters_and_websearch_syntax(api: Api) -> None:
    assert len((await search(api, "invoice OR abonnement")).hits) == 3
    only_fr = await search(api, "invoice OR abonnement", language="fr")
    assert [h.language for h in only_fr.hits] == ["fr"]
    one_call = await search(api, "invoice", call_ids=[cid(api, "call-en")])
    assert [h.call_id for h in one_call.hits] == [cid(api, "call-en")]
    assert one_call.withheld_calls == 0
    assert len((await search(api, "invoice", limit=1)).hits) == 1
    assert (await search(api, '"cancel my subscription" -march')).hits[0].utterance_no == 2
    assert (await search(api, "zebra")).hits == []

    for bad, code in (
        ({"query": ""}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"limit": 501}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"purpose": ""}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"requested_by": ""}, grpc.StatusCode.INVALID_ARGUMENT),
    ):
        query = str(bad.pop("query", "invoice"))
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await search(api, query, **bad)
        assert err.value.code() == code, bad


async def test_get_transcript_versions_and_refusals(api: Api) -> None:
    def get(call: str, **kw: object) -> transcripts_pb2.GetTranscriptRequest:
        kw.setdefault("requested_by", "qa-lead")
        kw.setdefault("purpose", "quality")
        return transcripts_pb2.GetTranscriptRequest(call_id=cid(api, call), **kw)  # type: ignore[arg-type]

    latest = await api.stub.GetTranscript(get("call-v2"))
    assert latest.version == 2 and [s.text[-6:] for s in latest.segments] == ["three."]
    live = await api.stub.GetTranscript(get("call-v2", version=1))
    assert live.version == 1 and live.segments[0].text.endswith("tree.")
    en = await api.stub.GetTranscript(get("call-en"))
    assert en.version == 1 and [s.utterance_no for s in en.segments] == [0, 1, 2]
    assert [s.channel for s in en.segments] == [CUSTOMER, AGENT, CUSTOMER]
    first = en.segments[0]
    assert first.kind == events_pb2.TranscriptSegment.KIND_FINAL and first.language == "en"
    assert [w.text for w in first.words][:2] == ["I", "never"] and first.words[1].start_ms == 300

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await api.stub.GetTranscript(get("call-proof"))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "never granted" in (err.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await api.stub.GetTranscript(get("call-en", version=2))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await api.stub.GetTranscript(get("call-en", requested_by=""))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    # Every decision, granted or refused, is in retention's audit log under the asker's name.
    audit = await api.retention.ListAudit(
        retention_pb2.ListAuditRequest(subject=f"call:{cid(api, 'call-proof')}")
    )
    views = [e for e in audit.entries if e.action == "access.transcript.view"]
    assert views and views[-1].actor == "qa-lead"
    assert json.loads(views[-1].details_json)["allowed"] is False


async def test_retention_down_means_unavailable(api: Api) -> None:
    store = TranscriptStore(api.pool)
    gate = AccessGate(f"127.0.0.1:{free_port()}", timeout_s=1.0)  # nothing listens there
    server, target = await _start_server(
        transcripts_pb2_grpc.add_TranscriptsServicer_to_server, TranscriptsService(store, gate)
    )
    try:
        async with grpc.aio.insecure_channel(target) as channel:
            stub = transcripts_pb2_grpc.TranscriptsStub(channel)
            for call in (
                stub.SearchTranscripts(
                    transcripts_pb2.SearchTranscriptsRequest(
                        query="invoice", requested_by="qa", purpose="quality"
                    )
                ),
                stub.GetTranscript(
                    transcripts_pb2.GetTranscriptRequest(
                        call_id=cid(api, "call-en"), requested_by="qa", purpose="quality"
                    )
                ),
            ):
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await call
                assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await server.stop(0)
        await gate.close()


def test_mark_cjk() -> None:
    assert mark_cjk("我想查询我的账户余额", "账户 余额") == "我想查询我的[账户][余额]"
    assert mark_cjk("no chinese here", "账户") == "no chinese here"
    assert mark_cjk("账户", "invoice") == "账户"
