"""gRPC `callscope.v1.Transcripts`: full-text search and whole transcripts, served only for a
purpose retention allows. Every call whose text is shown is checked with retention's
CheckAccess (resource "transcript", action "view"), which writes each decision to its audit log.
"""

from __future__ import annotations

import grpc

from callscope.v1 import transcripts_pb2, transcripts_pb2_grpc
from callscope_core.access import AccessDenied, AccessGate, AccessRequest, AccessUnavailable
from callscope_core.chinese import ChineseScript, to_script

from .store import SearchHit, TranscriptStore

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_QUERY_CHARS = 1000
# Hits read per round while filling a page past refused calls.
_PAGE_FACTOR = 2


def _access(call_id: str, requested_by: str, purpose: str) -> AccessRequest:
    return AccessRequest(
        call_id=call_id,
        purpose=purpose,
        actor=requested_by,
        resource="transcript",
        action="view",
    )


class TranscriptsService(transcripts_pb2_grpc.TranscriptsServicer):
    def __init__(
        self,
        store: TranscriptStore,
        access: AccessGate,
        chinese_script: ChineseScript = "simplified",
    ) -> None:
        """``chinese_script``: the script Chinese transcripts are stored in; a query's Chinese
        characters are converted to it, so a query in the other script finds them too."""
        self._store = store
        self._access = access
        self._chinese_script = chinese_script

    async def SearchTranscripts(
        self, request: transcripts_pb2.SearchTranscriptsRequest, context: grpc.aio.ServicerContext
    ) -> transcripts_pb2.SearchTranscriptsResponse:
        await _require(context, request, "query", "requested_by", "purpose")
        if len(request.query) > MAX_QUERY_CHARS:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"query is longer than {MAX_QUERY_CHARS} chars"
            )
        limit = request.limit or DEFAULT_LIMIT
        if not 0 < limit <= MAX_LIMIT:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"limit must be 1..{MAX_LIMIT}")

        decisions: dict[str, bool] = {}  # call_id -> allowed; one CheckAccess per call
        hits: list[SearchHit] = []
        offset = 0
        page = limit * _PAGE_FACTOR
        while len(hits) < limit:
            batch = await self._store.search(
                to_script(request.query, self._chinese_script),
                language=request.language,
                call_ids=list(request.call_ids),
                limit=page,
                offset=offset,
            )
            for hit in batch:
                if hit.call_id not in decisions:
                    decisions[hit.call_id] = await self._allowed(context, request, hit.call_id)
                if decisions[hit.call_id] and len(hits) < limit:
                    hits.append(hit)
            if len(batch) < page:
                break
            offset += page
        return transcripts_pb2.SearchTranscriptsResponse(
            hits=[
                transcripts_pb2.TranscriptHit(
                    call_id=h.call_id,
                    channel=h.channel,  # type: ignore[arg-type]
                    utterance_no=h.utterance_no,
                    version=h.version,
                    text=h.text,
                    snippet=h.snippet,
                    language=h.language,
                    start_ms=h.start_ms,
                    rank=h.rank,
                )
                for h in hits
            ],
            withheld_calls=sum(1 for allowed in decisions.values() if not allowed),
        )

    async def _allowed(
        self,
        context: grpc.aio.ServicerContext,
        request: transcripts_pb2.SearchTranscriptsRequest,
        call_id: str,
    ) -> bool:
        """Retention's decision for one call; a search fails as a whole if retention is down."""
        try:
            await self._access.check(_access(call_id, request.requested_by, request.purpose))
        except AccessDenied:
            return False
        except AccessUnavailable as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        return True

    async def GetTranscript(
        self, request: transcripts_pb2.GetTranscriptRequest, context: grpc.aio.ServicerContext
    ) -> transcripts_pb2.Transcript:
        await _require(context, request, "call_id", "requested_by", "purpose")
        if request.version < 0:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "version must be 0, 1 or 2")
        # Asked before anything is looked up, so even "is there a transcript" is audited.
        await self._access.abort_unless_allowed(
            context, _access(request.call_id, request.requested_by, request.purpose)
        )
        version = request.version or await self._store.authoritative_version(request.call_id)
        segments = await self._store.transcript(request.call_id, version) if version else []
        if not segments:
            which = f"version {request.version}" if request.version else "transcript"
            await context.abort(
                grpc.StatusCode.NOT_FOUND, f"no {which} stored for call {request.call_id!r}"
            )
        return transcripts_pb2.Transcript(
            call_id=request.call_id, version=version or 0, segments=segments
        )


async def _require(context: grpc.aio.ServicerContext, request: object, *names: str) -> None:
    missing = [name for name in names if not getattr(request, name)]
    if missing:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"required: {', '.join(missing)}")
