"""An audio-segments consumer that commits only what the live path no longer needs.

The shared EventConsumer commits each fetched batch once its handler returned. The live path
returns before an utterance is transcribed (the audio waits in the segmenter or the work
queue), so a plain commit would let a crash lose that audio. Here each commit is lowered to the
oldest record still held by a channel (LiveTranscriber.hold_offset), and raised again as
finals are stored (``commit_released``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from callscope_core.kafka import EventConsumer

HoldFn = Callable[[str, int], int | None]


class HoldingConsumer(EventConsumer):
    def __init__(self, *args: Any, hold: HoldFn, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._hold = hold
        self._wanted: dict[Any, int] = {}  # partition -> offset the base class would commit
        self._committed: dict[Any, int] = {}

    async def _commit(self, tp: Any, offset: int) -> None:
        self._wanted[tp] = offset
        await self._commit_held(tp)

    async def _commit_held(self, tp: Any) -> None:
        wanted = self._wanted[tp]
        held = self._hold(tp.topic, tp.partition)
        target = wanted if held is None else min(wanted, held)
        if target > self._committed.get(tp, -1):
            await super()._commit(tp, target)
            self._committed[tp] = target

    async def commit_released(self) -> None:
        for tp in list(self._wanted):
            await self._commit_held(tp)

    def committed_offsets(self) -> dict[tuple[str, int], int]:
        return {(tp.topic, tp.partition): offset for tp, offset in self._committed.items()}
