"""gRPC clients of the services the console shows: Supervisor (analyzer), Transcripts
(transcriber) and Recorder. One long-lived channel each; every unary call has a deadline."""

from __future__ import annotations

import grpc

from callscope.v1 import (
    recorder_pb2_grpc,
    supervisor_pb2_grpc,
    transcripts_pb2_grpc,
)


class Upstream:
    def __init__(
        self,
        analyzer_target: str,
        transcriber_target: str,
        recorder_target: str,
        timeout_s: float = 5.0,
    ) -> None:
        self.timeout_s = timeout_s
        self._channels = [
            grpc.aio.insecure_channel(target)
            for target in (analyzer_target, transcriber_target, recorder_target)
        ]
        analyzer, transcriber, recorder = self._channels
        self.supervisor = supervisor_pb2_grpc.SupervisorStub(analyzer)
        self.transcripts = transcripts_pb2_grpc.TranscriptsStub(transcriber)
        self.recorder = recorder_pb2_grpc.RecorderStub(recorder)

    async def analyzer_ready(self) -> None:
        """Returns once the channel to the analyzer is connected."""
        await self._channels[0].channel_ready()

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()
