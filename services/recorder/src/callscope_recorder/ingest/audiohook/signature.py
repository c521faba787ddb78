"""Genesys AudioHook request signatures: the WebSocket upgrade request signed with HTTP Message
Signatures (RFC 9421, HMAC-SHA256), keyed by the integration's client secret.

When an API key has a client secret, Genesys signs the upgrade request with it (key id = the
API key) and the recorder refuses an unsigned or badly signed one. The signature must cover
the request target, the authority, the AudioHook organization/session/correlation ids and the
API key; it must be fresh (`created` within `max_age_s`) and carry a nonce that was not seen
before (a replayed upgrade request is refused). Parsing and HMAC checking are the
`http-message-signatures` library's; this module decides what a valid AudioHook request is.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hmac
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from http_message_signatures import (
    HTTPMessageSignaturesException,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    algorithms,
)

REQUIRED_COMPONENTS = (
    "@request-target",
    "@authority",
    "audiohook-organization-id",
    "audiohook-session-id",
    "audiohook-correlation-id",
    "x-api-key",
)
MIN_NONCE_LENGTH = 22  # 128 bits of randomness, base64


class SignatureRefused(Exception):
    """The upgrade request is not signed as its API key requires (the message says why)."""


class ClientSecretError(ValueError):
    """A configured client secret is unusable (the message names the API key)."""


def parse_client_secrets(text: str) -> dict[str, bytes]:
    """`KEY=BASE64SECRET,KEY2=...` (as Genesys shows the client secret: base64) -> key: secret."""
    secrets: dict[str, bytes] = {}
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        key, sep, encoded = entry.partition("=")
        key = key.strip()
        if not sep or not key or not encoded.strip():
            raise ClientSecretError("audiohook client secrets: expected API_KEY=BASE64_SECRET")
        try:
            secret = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ClientSecretError(
                f"audiohook client secret of API key {key[:4]}…: not base64"
            ) from None
        if not secret:
            raise ClientSecretError(f"audiohook client secret of API key {key[:4]}…: empty")
        secrets[key] = secret
    return secrets


@dataclass(frozen=True)
class UpgradeRequest:
    """What the verifier reads of the WebSocket upgrade request (the library's message)."""

    method: str
    url: str
    headers: Mapping[str, str]

    @classmethod
    def received(cls, path: str, headers: Mapping[str, str]) -> UpgradeRequest:
        """The request as the client addressed it: @authority is its Host header (a TLS
        proxy in front keeps it), @request-target the path with its query."""
        host = next((v for k, v in headers.items() if k.lower() == "host"), "")
        return cls("GET", f"https://{host}{path}", headers)


class _Secrets(HTTPSignatureKeyResolver):
    def __init__(self, secrets: Mapping[str, bytes]) -> None:
        self._secrets = secrets

    def resolve_public_key(self, key_id: str) -> bytes | None:
        return self._secrets.get(key_id)

    def resolve_private_key(self, key_id: str) -> bytes:
        return self._secrets[key_id]


class _AudioHookVerifier(HTTPMessageVerifier):
    max_clock_skew = datetime.timedelta(seconds=3)


@dataclass
class AudioHookSignatures:
    secrets: Mapping[str, bytes]
    max_age_s: int = 10
    clock: Callable[[], float] = time.monotonic
    _nonces: OrderedDict[str, float] = field(default_factory=OrderedDict)

    def required_for(self, api_key: str) -> bool:
        return api_key in self.secrets

    def verify(self, request: UpgradeRequest, api_key: str) -> None:
        """Raise SignatureRefused unless `request` is signed with the secret of `api_key`."""
        headers = {name.lower(): value for name, value in request.headers.items()}
        if "signature-input" not in headers and "signature" not in headers:
            raise SignatureRefused("the request is not signed (this API key has a client secret)")
        only_this_key = {api_key: self.secrets[api_key]} if api_key in self.secrets else {}
        verifier = _AudioHookVerifier(
            signature_algorithm=algorithms.HMAC_SHA256, key_resolver=_Secrets(only_this_key)
        )
        try:
            [result] = verifier.verify(
                request,
                max_age=datetime.timedelta(seconds=self.max_age_s),
                require_components=REQUIRED_COMPONENTS,
            )
        except HTTPMessageSignaturesException as exc:  # the library wraps every failure
            raise SignatureRefused(f"bad signature: {exc}") from None
        if not hmac.compare_digest(str(result.parameters.get("keyid", "")), api_key):
            raise SignatureRefused("the signature's keyid is not the X-API-KEY")
        nonce = result.nonce
        if not isinstance(nonce, str) or len(nonce) < MIN_NONCE_LENGTH:
            raise SignatureRefused(f"the signature needs a nonce of {MIN_NONCE_LENGTH}+ characters")
        self._remember(nonce)

    def _remember(self, nonce: str) -> None:
        """A nonce is accepted once while its signature could still be fresh."""
        now = self.clock()
        horizon = now - 2 * self.max_age_s
        while self._nonces and next(iter(self._nonces.values())) < horizon:
            self._nonces.popitem(last=False)
        if nonce in self._nonces:
            raise SignatureRefused("replayed request (its nonce was already used)")
        self._nonces[nonce] = now
