"""AudioHook upgrade-request signatures (RFC 9421, HMAC-SHA256 with the client secret): a
request signed the way Genesys signs it passes; anything else is refused with a reason. The
requests are signed with the http-message-signatures library's signer, as a client would."""

from __future__ import annotations

import asyncio
import base64
import datetime
import secrets
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from http_message_signatures import HTTPMessageSigner, algorithms

from callscope.v1 import events_pb2
from callscope_recorder.ingest.audiohook.signature import (
    REQUIRED_COMPONENTS,
    AudioHookSignatures,
    ClientSecretError,
    SignatureRefused,
    UpgradeRequest,
    _Secrets,
    parse_client_secrets,
)

API_KEY = "genesys-key-1"
SECRET = secrets.token_bytes(32)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sign(
    headers: dict[str, str],
    path: str,
    key_id: str,
    secret: bytes,
    *,
    nonce: str | None,
    created: datetime.datetime | None = None,
    components: Sequence[str] = REQUIRED_COMPONENTS,
) -> None:
    """Add Signature-Input and Signature to `headers`, as a Genesys client signs an upgrade."""
    HTTPMessageSigner(
        signature_algorithm=algorithms.HMAC_SHA256, key_resolver=_Secrets({key_id: secret})
    ).sign(
        UpgradeRequest.received(path, headers),
        key_id=key_id,
        nonce=nonce,
        created=created or datetime.datetime.now(datetime.UTC),
        covered_component_ids=tuple(components),
    )


def fresh_nonce() -> str:
    return secrets.token_urlsafe(24)


FRESH = "fresh"  # upgrade(nonce=FRESH): a new nonce for this request


def upgrade(
    *,
    key: str = API_KEY,
    secret: bytes = SECRET,
    components: Sequence[str] = REQUIRED_COMPONENTS,
    nonce: str | None = FRESH,
    created: datetime.datetime | None = None,
    signed_key_id: str | None = None,
    tamper: dict[str, str] | None = None,
) -> UpgradeRequest:
    headers = {
        "Host": "recorder.example.com",
        "X-API-KEY": key,
        "Audiohook-Organization-Id": "d7934305-0972-4844-938e-9060eef73d05",
        "Audiohook-Session-Id": "e160e428-53e2-487c-977d-96989bf5c99d",
        "Audiohook-Correlation-Id": "30b0e395-84d3-4570-ac13-9a62d8f514c0",
    }
    sign(
        headers,
        "/audiohook?x=1",
        signed_key_id or key,
        secret,
        nonce=fresh_nonce() if nonce == FRESH else nonce,
        created=created,
        components=components,
    )
    headers.update(tamper or {})
    return UpgradeRequest.received("/audiohook?x=1", headers)


def verifier(clock: Clock | None = None) -> AudioHookSignatures:
    return AudioHookSignatures({API_KEY: SECRET}, max_age_s=10, clock=clock or Clock())


def test_a_request_signed_like_genesys_passes_once() -> None:
    clock = Clock()
    check = verifier(clock)
    nonce = fresh_nonce()
    request = upgrade(nonce=nonce)
    check.verify(request, API_KEY)
    with pytest.raises(SignatureRefused, match="replayed"):
        check.verify(request, API_KEY)
    # A nonce is remembered for twice the maximum age (by then its signature is stale), so
    # the memory stays bounded; a new signature may use it again.
    clock.now += 60
    check.verify(upgrade(nonce=nonce), API_KEY)


@pytest.mark.parametrize(
    ("request_kwargs", "reason"),
    [
        ({"secret": secrets.token_bytes(32)}, "bad signature"),
        ({"components": REQUIRED_COMPONENTS[:-1]}, "x-api-key"),
        ({"components": ("@authority", "x-api-key")}, "not covered"),
        ({"nonce": None}, "nonce"),
        ({"nonce": "short"}, "nonce"),
        (
            {"created": datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=60)},
            "age",
        ),
        (
            {"created": datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=60)},
            "future",
        ),
        ({"tamper": {"Audiohook-Session-Id": "another-session"}}, "bad signature"),
        ({"tamper": {"Host": "evil.example.com"}}, "bad signature"),
    ],
)
def test_anything_else_is_refused_with_a_reason(request_kwargs: dict, reason: str) -> None:
    with pytest.raises(SignatureRefused, match=reason):
        verifier().verify(upgrade(**request_kwargs), API_KEY)


def test_the_signature_must_be_made_with_the_secret_of_the_key_sent() -> None:
    other = AudioHookSignatures({API_KEY: SECRET, "key-2": secrets.token_bytes(32)})
    # Signed with key-2's id and secret but presented with API_KEY: keyid and header differ.
    request = upgrade(signed_key_id="key-2", secret=other.secrets["key-2"])
    with pytest.raises(SignatureRefused):
        other.verify(request, API_KEY)


def test_an_unsigned_request_is_refused_when_the_key_has_a_secret() -> None:
    request = UpgradeRequest.received("/audiohook", {"Host": "h", "X-API-KEY": "k"})
    check = verifier()
    assert check.required_for(API_KEY) and not check.required_for("k")
    with pytest.raises(SignatureRefused, match="not signed"):
        check.verify(request, API_KEY)


def test_client_secrets_come_as_key_equals_base64() -> None:
    encoded = base64.b64encode(SECRET).decode()
    assert parse_client_secrets(f" {API_KEY}={encoded} , k2=AAEC ") == {
        API_KEY: SECRET,
        "k2": b"\x00\x01\x02",
    }
    assert parse_client_secrets("") == {}
    for bad in ("no-equals", "k=", "=AAEC", "k=not base64!", "k===="):
        with pytest.raises(ClientSecretError):
            parse_client_secrets(bad)


# -- the recorder's WebSocket listener with a real recorder (PostgreSQL, Tansu, object store) ----
ORGANIZATION = "d7934305-0972-4844-938e-9060eef73d05"


def signed_headers(host: str, key: str, secret: bytes | None, session_id: str) -> dict[str, str]:
    headers = {
        "Host": host,
        "X-API-KEY": key,
        "Audiohook-Organization-Id": ORGANIZATION,
        "Audiohook-Session-Id": session_id,
        "Audiohook-Correlation-Id": secrets.token_hex(8),
    }
    if secret is not None:
        sign(headers, "/audiohook", key, secret, nonce=fresh_nonce())
    del headers["Host"]  # the WebSocket client sends it (signed as @authority)
    return headers


async def stored_call(harness: Any, answers: list[dict]) -> events_pb2.RecordingStored:
    """The RecordingStored of the AudioHook session that got these answers."""
    conversation = answers[0]["conversation"]
    async with asyncio.timeout(30):
        while True:
            harness.seen += await harness.tail.poll(0.2)
            messages = [m for _, m in harness.seen]
            started = [
                m.call_id
                for m in messages
                if isinstance(m, events_pb2.CallStarted) and m.external_call_id == conversation
            ]
            stored = [
                m
                for m in messages
                if isinstance(m, events_pb2.RecordingStored) and m.call_id in started
            ]
            if stored:
                return stored[0]


async def audiohook_call(url: str, headers: dict[str, str], organization: str) -> list[dict]:
    """open, 1 s of stereo audio, close: what the recorder answered."""
    import json

    from websockets.asyncio.client import connect

    answers: list[dict] = []
    async with connect(url, additional_headers=headers) as ws:
        seq = 0

        async def send(kind: str, parameters: dict) -> dict:
            nonlocal seq
            seq += 1
            message = {
                "version": "2", "type": kind, "seq": seq, "id": headers["Audiohook-Session-Id"],
                "serverseq": len(answers), "position": "PT0S", "parameters": parameters,
            }  # fmt: skip
            await ws.send(json.dumps(message))
            answers.append(json.loads(await ws.recv()))
            return answers[-1]

        media = {"type": "audio", "format": "PCMU", "channels": ["external", "internal"]}
        conversation = secrets.token_hex(8)
        opened = await send(
            "open",
            {"organizationId": organization, "conversationId": conversation,
             "participant": {"ani": "+33612345678"}, "media": [{**media, "rate": 8000}]},
        )  # fmt: skip
        opened["conversation"] = conversation
        if opened["type"] == "opened":
            await ws.send(bytes([0xFF]) * 16000)  # 1 s, both channels
            await send("close", {"reason": "end"})
    return answers


@pytest.mark.integration
async def test_the_listener_admits_only_signed_upgrades_for_keys_with_a_secret(
    make_harness: Callable[..., Any],
) -> None:
    from websockets.exceptions import InvalidStatus

    from callscope_recorder.ingest.websocket_server import MediaStreamServer

    harness = await make_harness()
    server = MediaStreamServer(
        harness.recorder,
        host="127.0.0.1",
        port=0,
        audiohook_api_keys=[API_KEY, "plain-key"],
        audiohook_signatures=AudioHookSignatures({API_KEY: SECRET}),
    )
    await server.start()
    host = f"127.0.0.1:{server.port}"
    url = f"ws://{host}/audiohook"
    try:
        session = secrets.token_hex(8)
        headers = signed_headers(host, API_KEY, SECRET, session)
        answers = await audiohook_call(url, headers, ORGANIZATION)
        assert [a["type"] for a in answers] == ["opened", "closed"]
        stored = await stored_call(harness, answers)
        assert stored.duration_ms >= 1000 and stored.channels == 2

        # The same signed request again (a replay), unsigned, or signed with another secret.
        for refused in (
            headers,
            signed_headers(host, API_KEY, None, secrets.token_hex(8)),
            signed_headers(host, API_KEY, secrets.token_bytes(32), secrets.token_hex(8)),
        ):
            with pytest.raises(InvalidStatus) as err:
                await audiohook_call(url, refused, ORGANIZATION)
            assert err.value.response.status_code == 401
        assert server.refused == {401: 3}

        # A key without a client secret needs no signature.
        plain = signed_headers(host, "plain-key", None, secrets.token_hex(8))
        answers = await audiohook_call(url, plain, ORGANIZATION)
        assert [a["type"] for a in answers] == ["opened", "closed"]

        # The open message must name the organization the signed headers named.
        other = signed_headers(host, API_KEY, SECRET, secrets.token_hex(8))
        [answer] = await audiohook_call(url, other, "00000000-0000-0000-0000-000000000000")
        assert answer["type"] == "disconnect" and "organizationId" in answer["parameters"]["info"]
    finally:
        await server.close()
