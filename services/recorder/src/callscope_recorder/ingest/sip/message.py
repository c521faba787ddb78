"""Strict SIP message parsing and building (RFC 3261), pure code: bytes in, objects out.

The parser is the recorder's front door on an open UDP port, so it is deliberately strict
about what it structurally relies on (start line, framing, the headers a response must
echo) and raises only SipParseError, whatever the input, so the server can answer 4xx and
move on. Header values it does not need are kept as written (RFC 3261 7.3: unknown headers
are opaque), after unfolding.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

MAX_MESSAGE_BYTES = 64 * 1024
# Real requests carry a few dozen header fields; thousands only make lookups slow.
MAX_HEADER_FIELDS = 512
SUPPORTED_VERSION = "SIP/2.0"

# RFC 3261 7.3.3 compact forms, plus the common extension ones (RFC 3265, 3515, 4028).
COMPACT_FORMS = {
    "i": "Call-ID",
    "m": "Contact",
    "e": "Content-Encoding",
    "l": "Content-Length",
    "c": "Content-Type",
    "f": "From",
    "s": "Subject",
    "k": "Supported",
    "t": "To",
    "v": "Via",
    "o": "Event",
    "r": "Refer-To",
    "u": "Allow-Events",
    "x": "Session-Expires",
}

# Canonical spelling of the headers we emit or look at, so items() and built messages read
# the conventional way whatever case the peer used.
_CANONICAL = {
    name.lower(): name
    for name in (
        *COMPACT_FORMS.values(),
        "CSeq",
        "Max-Forwards",
        "Require",
        "Proxy-Require",
        "Unsupported",
        "Record-Route",
        "Route",
        "Allow",
        "Accept",
        "User-Agent",
        "Server",
        "Retry-After",
        "Content-Disposition",
        "MIME-Version",
        "WWW-Authenticate",
        "Authorization",
        "Expires",
        "Date",
    )
}

_MANDATORY = ("Via", "From", "To", "Call-ID", "CSeq")
_SINGLE_VALUED = ("From", "To", "Call-ID", "CSeq", "Content-Length", "Max-Forwards")

# token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
_TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
_TOKEN_RE = re.compile(_TOKEN)
_CSEQ_RE = re.compile(rf"[ \t]*([0-9]+)[ \t]+({_TOKEN})[ \t]*")
_VERSION_RE = re.compile(r"SIP/[0-9]+\.[0-9]+", re.IGNORECASE)
_STATUS_LINE_RE = re.compile(r"(SIP/[0-9]+\.[0-9]+) ([0-9]{3})(?: (.*))?", re.IGNORECASE)
_URI_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*:")
_BLANK_LINE_RE = re.compile(rb"\r?\n\r?\n")
_LINE_SPLIT_RE = re.compile(r"\r?\n")
_LWS = " \t"
# generic-param value: token / host (IPv6 reference included) / quoted-string.
_GEN_VALUE = r"(?:[A-Za-z0-9\-.!%*_+`'~:\[\]]+|\"(?:[^\"\\]|\\.)*\")"
# No trailing LWS inside the repeated part: whitespace has exactly one place to go, so a
# hostile value cannot make the regex backtrack exponentially.
_PARAM = rf"[ \t]*{_TOKEN}(?:[ \t]*=[ \t]*{_GEN_VALUE})?"
_PARAM_RE = re.compile(rf"{_PARAM}[ \t]*")
# Via: sent-protocol LWS sent-by *( SEMI via-params ), LWS allowed around separators.
_VIA_RE = re.compile(
    rf"[ \t]*{_TOKEN}[ \t]*/[ \t]*{_TOKEN}[ \t]*/[ \t]*{_TOKEN}[ \t]+"
    r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._]+)(?:[ \t]*:[ \t]*[0-9]{1,5})?"
    rf"(?:[ \t]*;{_PARAM})*[ \t]*"
)


class SipParseError(ValueError):
    """A message we refuse; status is the SIP response code that says why."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status

    def __str__(self) -> str:
        return f"{self.status} {self.reason}"


def canonical_name(name: str) -> str:
    """Full, conventionally spelled header name (compact forms expanded)."""
    lower = name.lower()
    if lower in COMPACT_FORMS:
        return COMPACT_FORMS[lower]
    return _CANONICAL.get(lower, name)


def _split_outside_quotes(text: str, separator: str, *, inside_angles: bool) -> list[str]:
    """Split on `separator` outside quoted strings (and, with inside_angles, outside <...>:
    a URI in angle brackets may hold commas of its own)."""
    parts: list[str] = []
    start = 0
    quoted = False
    angle = False
    i = 0
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif inside_angles and ch == "<":
            angle = True
        elif inside_angles and ch == ">":
            angle = False
        elif ch == separator and not angle:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def _split_commas(value: str) -> list[str]:
    """Split a header value on commas that are outside quoted strings and <...>."""
    return _split_outside_quotes(value, ",", inside_angles=True)


class Headers:
    """SIP headers: case-insensitive, multi-valued, in arrival order, compact names expanded."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] | None = None) -> None:
        self._items: list[tuple[str, str]] = []
        for name, value in items or ():
            self.add(name, value)

    def get(self, name: str) -> str | None:
        key = canonical_name(name).lower()
        for item_name, value in self._items:
            if item_name.lower() == key:
                return value
        return None

    def get_all(self, name: str) -> list[str]:
        key = canonical_name(name).lower()
        values = [value for item_name, value in self._items if item_name.lower() == key]
        if key == "via":
            # One Via line may carry several hops (RFC 3261 7.3.1); each is its own entry.
            return [part.strip() for value in values for part in _split_commas(value)]
        return values

    def add(self, name: str, value: str) -> None:
        self._items.append((canonical_name(name), value))

    def set(self, name: str, value: str) -> None:
        """Replace every value of name with one, where the first one was (or at the end)."""
        full = canonical_name(name)
        key = full.lower()
        out: list[tuple[str, str]] = []
        placed = False
        for item in self._items:
            if item[0].lower() == key:
                if not placed:
                    out.append((full, value))
                    placed = True
            else:
                out.append(item)
        if not placed:
            out.append((full, value))
        self._items = out

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._items == other._items

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


def _parse_cseq(value: str | None) -> tuple[int, str]:
    match = _CSEQ_RE.fullmatch(value or "")
    if match is None:
        raise SipParseError("invalid CSeq header")
    number = int(match.group(1))
    if number >= 2**31:  # RFC 3261 8.1.1.5: less than 2**31
        raise SipParseError("CSeq number too large")
    return number, match.group(2)


@dataclass
class SipRequest:
    method: str
    uri: str
    headers: Headers
    body: bytes
    version: str = SUPPORTED_VERSION

    @property
    def call_id(self) -> str:
        return (self.headers.get("Call-ID") or "").strip()

    @property
    def cseq(self) -> tuple[int, str]:
        return _parse_cseq(self.headers.get("CSeq"))


@dataclass
class SipResponse:
    status: int
    reason: str
    headers: Headers
    body: bytes
    version: str = SUPPORTED_VERSION

    @property
    def call_id(self) -> str:
        return (self.headers.get("Call-ID") or "").strip()

    @property
    def cseq(self) -> tuple[int, str]:
        return _parse_cseq(self.headers.get("CSeq"))


# -- parsing ------------------------------------------------------------------------------


def parse_message(data: bytes) -> SipRequest | SipResponse:
    """Parse one UDP datagram. Raises SipParseError (and nothing else) for any bad input."""
    try:
        return _parse(data)
    except SipParseError:
        raise
    except Exception as exc:  # a parser bug must still be a 400, never a crash
        raise SipParseError(f"unparseable message ({type(exc).__name__})") from exc


def _parse(data: bytes) -> SipRequest | SipResponse:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise SipParseError("message is not bytes")
    data = bytes(data)
    if len(data) > MAX_MESSAGE_BYTES:
        raise SipParseError("Message too large", 413)
    # RFC 3261 7.5: CRLFs before the start line are to be ignored.
    data = data.lstrip(b"\r\n")
    if not data:
        raise SipParseError("empty message")
    blank = _BLANK_LINE_RE.search(data)
    if blank is None:
        raise SipParseError("no empty line after the headers")
    head_bytes, rest = data[: blank.start()], data[blank.end() :]
    try:
        head = head_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise SipParseError("headers are not valid UTF-8") from None

    lines = _LINE_SPLIT_RE.split(head)
    if len(lines) > MAX_HEADER_FIELDS + 1 and _count_fields(lines) > MAX_HEADER_FIELDS:
        raise SipParseError("too many header fields")
    start_line = lines[0]
    # The start line first, so an unknown SIP version is a 505 whatever follows it.
    message: SipRequest | SipResponse
    if start_line[:4].upper() == "SIP/":
        status, reason, version = _parse_status_line(start_line)
        message = SipResponse(status, reason, Headers(), b"", version)
    else:
        method, uri, version = _parse_request_line(start_line)
        message = SipRequest(method, uri, Headers(), b"", version)
    headers = message.headers = _parse_headers(lines[1:])
    _check_headers(headers)
    if isinstance(message, SipRequest):
        _number, cseq_method = message.cseq
        if cseq_method != message.method:
            raise SipParseError("CSeq method does not match the request method")
    message.body = _frame_body(headers, rest)
    return message


def _count_fields(lines: list[str]) -> int:
    return sum(1 for line in lines[1:] if line[:1] not in (" ", "\t"))


def _parse_request_line(line: str) -> tuple[str, str, str]:
    # Request-Line = Method SP Request-URI SP SIP-Version: exactly single spaces.
    parts = line.split(" ")
    if len(parts) != 3 or not all(parts):
        raise SipParseError("malformed request line")
    method, uri, version = parts
    if _TOKEN_RE.fullmatch(method) is None:
        raise SipParseError("malformed method")
    if not _VERSION_RE.fullmatch(version):
        raise SipParseError("malformed SIP version")
    if version.upper() != SUPPORTED_VERSION:
        raise SipParseError("Version Not Supported", 505)
    _check_request_uri(uri)
    return method, uri, SUPPORTED_VERSION


def _check_request_uri(uri: str) -> None:
    if _URI_SCHEME_RE.match(uri) is None or any(ord(ch) <= 0x20 or ch in "<>\x7f" for ch in uri):
        raise SipParseError("malformed Request-URI")
    scheme = uri.split(":", 1)[0].lower()
    if scheme in ("sip", "sips"):
        # Headers (?...) are not allowed in a Request-URI (RFC 3261 19.1.5); '?' may only
        # appear in the user part, which ends at the last '@'.
        host_part = uri.rsplit("@", 1)[-1] if "@" in uri else uri.split(":", 1)[1]
        if "?" in host_part:
            raise SipParseError("Request-URI must not contain headers")


def _parse_status_line(line: str) -> tuple[int, str, str]:
    match = _STATUS_LINE_RE.fullmatch(line)
    if match is None:
        raise SipParseError("malformed status line")
    version = match.group(1).upper()
    if version != SUPPORTED_VERSION:
        raise SipParseError("Version Not Supported", 505)
    status = int(match.group(2))
    if not 100 <= status <= 699:
        raise SipParseError("status code out of range")
    return status, match.group(3) or "", version


def _parse_headers(lines: list[str]) -> Headers:
    headers = Headers()
    name: str | None = None
    value_parts: list[str] = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            # Folded continuation: joined to the previous value with one space.
            if name is None:
                raise SipParseError("continuation line before any header")
            value_parts.append(line.strip(_LWS))
            continue
        if name is not None:
            headers.add(name, " ".join(p for p in value_parts if p))
        colon = line.find(":")
        if colon <= 0:
            raise SipParseError("malformed header line")
        raw_name = line[:colon].rstrip(_LWS)
        if _TOKEN_RE.fullmatch(raw_name) is None:
            raise SipParseError("malformed header name")
        name = raw_name
        value_parts = [line[colon + 1 :].strip(_LWS)]
    if name is not None:
        headers.add(name, " ".join(p for p in value_parts if p))
    return headers


def _check_headers(headers: Headers) -> None:
    for name in _MANDATORY:
        if name not in headers:
            raise SipParseError(f"missing {name} header")
    for name in _SINGLE_VALUED:
        if len(headers.get_all(name)) > 1:
            raise SipParseError(f"multiple {name} headers")
    for via in headers.get_all("Via"):
        if _VIA_RE.fullmatch(via) is None:
            raise SipParseError("malformed Via header")
    call_id = (headers.get("Call-ID") or "").strip(_LWS)
    if not call_id or any(ord(ch) <= 0x20 or ord(ch) >= 0x7F for ch in call_id):
        raise SipParseError("malformed Call-ID header")
    _parse_cseq(headers.get("CSeq"))
    for name in ("From", "To"):
        split_name_addr(headers.get(name) or "", name)
    max_forwards = headers.get("Max-Forwards")
    if max_forwards is not None:
        text = max_forwards.strip(_LWS)
        if not text.isascii() or not text.isdigit() or int(text) > 255:
            raise SipParseError("malformed Max-Forwards header")


def split_name_addr(value: str, header: str = "address") -> tuple[str | None, str, str]:
    """(display name, URI, ";params") of a From/To/Contact-style value.

    Raises SipParseError for the malformations that make the value ambiguous: unbalanced
    quotes or angle brackets, whitespace inside <...>, commas in an unquoted display name,
    empty or malformed parameters.
    """
    text = value.strip(_LWS)
    display: str | None = None
    i = 0
    if text.startswith('"'):
        i = 1
        while True:
            if i >= len(text):
                raise SipParseError(f"unterminated quoted string in {header} header")
            ch = text[i]
            if ch == "\\":
                i += 2
                continue
            if ch == '"':
                break
            i += 1
        display = text[1:i]
        text_after = text[i + 1 :].lstrip(_LWS)
        if not text_after.startswith("<"):
            raise SipParseError(f"malformed {header} header")
        text, i = text_after, 0
    lt = text.find("<")
    if lt >= 0:
        if display is None:
            prefix = text[:lt].strip(_LWS)
            if any(ch in prefix for ch in '",;>') or any(ord(ch) < 0x20 for ch in prefix):
                raise SipParseError(f"malformed display name in {header} header")
            display = prefix or None
        gt = text.find(">", lt)
        if gt < 0:
            raise SipParseError(f"unterminated <...> in {header} header")
        uri = text[lt + 1 : gt]
        params = text[gt + 1 :]
        if not uri or any(ch in uri for ch in ' \t<"'):
            raise SipParseError(f"malformed URI in {header} header")
    else:
        if '"' in text or ">" in text:
            raise SipParseError(f"malformed {header} header")
        semi = text.find(";")
        uri, params = (text, "") if semi < 0 else (text[:semi], text[semi:])
        uri = uri.strip(_LWS)
        if not uri or any(ch in uri for ch in " \t"):
            raise SipParseError(f"malformed URI in {header} header")
    if _URI_SCHEME_RE.match(uri) is None:
        raise SipParseError(f"malformed URI in {header} header")
    params = params.strip(_LWS)
    if params:
        if not params.startswith(";"):
            raise SipParseError(f"malformed {header} header")
        for param in _split_params(params[1:]):
            if _PARAM_RE.fullmatch(param) is None:
                raise SipParseError(f"malformed parameter in {header} header")
    return display, uri, params


def _split_params(text: str) -> list[str]:
    """Split on ';' outside quoted strings."""
    return _split_outside_quotes(text, ";", inside_angles=False)


def header_param(value: str, name: str) -> str | None:
    """A parameter of a name-addr value (e.g. the tag of To), or None when absent."""
    try:
        _display, _uri, params = split_name_addr(value)
    except SipParseError:
        return None
    for param in _split_params(params[1:]) if params else []:
        key, _, val = param.partition("=")
        if key.strip(_LWS).lower() == name.lower():
            return val.strip(_LWS)
    return None


def _frame_body(headers: Headers, rest: bytes) -> bytes:
    lengths = headers.get_all("Content-Length")
    if not lengths:
        return rest  # UDP: without Content-Length the body is the rest of the datagram
    text = lengths[0].strip(_LWS)
    if not text.isascii() or not text.isdigit():
        raise SipParseError("invalid Content-Length")
    length = int(text)
    if length > len(rest):
        raise SipParseError("Content-Length larger than body")
    # RFC 3261 18.3: octets after Content-Length in a datagram are discarded.
    return rest[:length]


# -- stream transports (TCP) -------------------------------------------------------------

# RFC 5626 3.5.1: a client pings a stream connection with a double CRLF; the answer is CRLF.
KEEPALIVE_PING = b"\r\n\r\n"
KEEPALIVE_PONG = b"\r\n"
_STREAM_CONTENT_LENGTH_RE = re.compile(
    rb"^(?:content-length|l)[ \t]*:[ \t]*([0-9]+)[ \t]*\r?$", re.IGNORECASE | re.MULTILINE
)


class SipStreamFramer:
    """Cuts a TCP byte stream into SIP messages by Content-Length (RFC 3261 18.3).

    feed() returns the complete messages (and KEEPALIVE_PING for each double-CRLF ping) in
    order. On a stream the framing is the only thing that says where the next message
    starts, so a missing or oversized Content-Length is a SipParseError after which the
    connection cannot be trusted and must be closed; `pending` keeps the bytes that caused
    it, so the caller can still answer them.
    """

    def __init__(self, max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self._max = max_message_bytes
        self.pending = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self.pending += data
        frames: list[bytes] = []
        while True:
            frame = self._next()
            if frame is None:
                return frames
            frames.append(frame)

    def _next(self) -> bytes | None:
        buf = self.pending
        # Between messages only CRLFs may appear: a double one is a ping, a single one
        # (a pong, or slack) is skipped. Wait while a lone CRLF could still become a ping.
        while buf[:2] == b"\r\n":
            if buf[:4] == KEEPALIVE_PING:
                del buf[:4]
                return KEEPALIVE_PING
            if len(buf) < 4 and KEEPALIVE_PING.startswith(bytes(buf)):
                return None
            del buf[:2]
        blank = _BLANK_LINE_RE.search(buf, 0, self._max + 4)
        if blank is None:
            if len(buf) > self._max:
                raise SipParseError("Message too large", 413)
            return None
        head_end = blank.end()
        match = _STREAM_CONTENT_LENGTH_RE.search(buf, 0, blank.start() + 1)
        if match is None:
            raise SipParseError("Content-Length is required on a stream transport")
        length = int(match.group(1))
        if head_end + length > self._max:
            raise SipParseError("Message too large", 413)
        if len(buf) < head_end + length:
            return None
        message = bytes(buf[: head_end + length])
        del buf[: head_end + length]
        return message


# -- building -----------------------------------------------------------------------------


def _safe_line(text: str) -> str:
    """No CR/LF or other control characters can leak into a header or status line."""
    return "".join(ch if ch >= " " and ch != "\x7f" else " " for ch in text)


def build_response(
    request: SipRequest,
    status: int,
    reason: str,
    *,
    to_tag: str | None = None,
    body: bytes = b"",
    content_type: str | None = None,
    extra_headers: list[tuple[str, str]] | None = None,
) -> bytes:
    """A response to request (RFC 3261 8.2.6): Via, From, To, Call-ID and CSeq copied."""
    if body and not content_type:
        raise ValueError("a response body needs a content_type")
    reason_line = _safe_line(reason)[:200]
    lines = [f"{SUPPORTED_VERSION} {status} {reason_line}"]
    for via in request.headers.get_all("Via"):
        lines.append(f"Via: {via}")
    from_value = request.headers.get("From")
    if from_value is not None:
        lines.append(f"From: {from_value}")
    to_value = request.headers.get("To")
    if to_value is not None:
        if to_tag and header_param(to_value, "tag") is None:
            to_value = f"{to_value};tag={to_tag}"
        lines.append(f"To: {to_value}")
    for name in ("Call-ID", "CSeq"):
        value = request.headers.get(name)
        if value is not None:
            lines.append(f"{name}: {value}")
    for name, value in extra_headers or []:
        lines.append(f"{canonical_name(name)}: {_safe_line(value)}")
    if body:
        lines.append(f"Content-Type: {content_type}")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


def build_request(
    method: str, uri: str, headers: list[tuple[str, str]], body: bytes = b""
) -> bytes:
    """A request with the given headers; Content-Length is added (or overridden) to match."""
    lines = [f"{method} {uri} {SUPPORTED_VERSION}"]
    for name, value in headers:
        full = canonical_name(name)
        if full == "Content-Length":
            continue
        lines.append(f"{full}: {_safe_line(value)}")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body
