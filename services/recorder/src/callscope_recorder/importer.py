"""Batch import of recorded calls (WAV, FLAC, MP3) into the same pipeline as a live call.

Each file is streamed to the recorder's gRPC `Recorder.StreamCall` as a call from source
"import": the recorder stores the stereo recording, writes recorder.calls and publishes
CallStarted, AudioSegments, CallEnded and RecordingStored, so the transcriber and the analyzer
process it like any finished call. Files are decoded here, block by block (soundfile for
WAV/FLAC, PyAV for MP3 and anything else FFmpeg reads) and sent as 16-bit PCM at the file's
own sample rate; the recorder resamples to 8 kHz.

Resumable: a file's identity is the SHA-256 of its content, sent as the call's
external_call_id. The recorder refuses (ALREADY_EXISTS) a file it has stored completely
before, so re-running an import skips what is done, and a file whose import was cut off
is imported again.

Channels: a stereo file's `agent_channel` side (left or right) is the agent, the other side
the customer; a mono file is one channel (`mono_channel`, the customer by default).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np

from callscope.v1 import common_pb2, recorder_pb2, recorder_pb2_grpc

from .ingest.grpc_stream import EXISTING_CALL_HEADER, EXISTING_KEY_HEADER, SOURCE_HEADER

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".flac", ".mp3")
_SOUNDFILE_SUFFIXES = (".wav", ".flac")
FRAME_SECONDS = 0.5  # 48 kHz PCM16: 48000 bytes per frame, under the recorder's limit
_CHANNEL_VALUE = {"customer": common_pb2.CHANNEL_CUSTOMER, "agent": common_pb2.CHANNEL_AGENT}


class UnreadableAudioError(ValueError):
    """A file that cannot be imported, with the reason."""


@dataclass(frozen=True)
class AudioFile:
    path: Path
    sample_rate: int
    channels: int
    frames: int  # samples per channel (an estimate for MP3)

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


@dataclass
class ImportResult:
    path: Path
    status: str  # imported | skipped | failed
    call_id: str = ""
    object_key: str = ""
    reason: str = ""
    sha256: str = ""


def find_audio_files(paths: list[Path]) -> list[Path]:
    """Files as given, and every audio file under a directory (sorted, so runs are stable)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES
            )
        else:
            found.append(path)
    return list(dict.fromkeys(found))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def probe(path: Path) -> AudioFile:
    if path.suffix.lower() in _SOUNDFILE_SUFFIXES:
        import soundfile

        try:
            info = soundfile.info(str(path))
        except (RuntimeError, soundfile.LibsndfileError) as exc:
            raise UnreadableAudioError(f"cannot read {path.name}: {exc}") from None
        return AudioFile(path, int(info.samplerate), int(info.channels), int(info.frames))
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise UnreadableAudioError(f"{path.name} has no audio stream")
            stream = container.streams.audio[0]
            rate = int(stream.rate or stream.codec_context.sample_rate)
            channels = int(stream.codec_context.channels)
            seconds = float(container.duration or 0) / 1_000_000
    except av.FFmpegError as exc:
        raise UnreadableAudioError(f"cannot read {path.name}: {exc}") from None
    return AudioFile(path, rate, channels, int(seconds * rate))


def read_blocks(audio: AudioFile, block_frames: int) -> Iterator[np.ndarray]:
    """int16 blocks of shape (frames, channels), in order."""
    if audio.path.suffix.lower() in _SOUNDFILE_SUFFIXES:
        import soundfile

        yield from soundfile.blocks(
            str(audio.path), blocksize=block_frames, dtype="int16", always_2d=True
        )
        return
    import av

    with av.open(str(audio.path)) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(
            format="s16", layout=stream.codec_context.layout.name, rate=audio.sample_rate
        )
        pending = np.zeros((0, audio.channels), dtype=np.int16)
        for frame in [*container.decode(stream), None]:
            for out in resampler.resample(frame):
                samples = out.to_ndarray().reshape(-1, audio.channels)
                pending = np.concatenate([pending, samples])
                while len(pending) >= block_frames:
                    yield pending[:block_frames]
                    pending = pending[block_frames:]
        if len(pending):
            yield pending


def channel_roles(channels: int, agent_channel: str, mono_channel: str) -> list[str]:
    """The recorder channel of each of the file's channels."""
    if channels == 1:
        if mono_channel not in _CHANNEL_VALUE:
            raise UnreadableAudioError(
                f"mono channel must be customer or agent, not {mono_channel!r}"
            )
        return [mono_channel]
    if channels == 2:
        if agent_channel == "left":
            return ["agent", "customer"]
        if agent_channel == "right":
            return ["customer", "agent"]
        raise UnreadableAudioError(f"agent channel must be left or right, not {agent_channel!r}")
    raise UnreadableAudioError(
        f"{channels} channels: only mono or stereo recordings can be imported"
    )


async def _requests(
    audio: AudioFile,
    metadata: recorder_pb2.CallMetadata,
    roles: list[str],
    on_progress: Callable[[float], None],
) -> AsyncIterator[recorder_pb2.StreamCallRequest]:
    yield recorder_pb2.StreamCallRequest(metadata=metadata)
    block_frames = max(1, int(audio.sample_rate * FRAME_SECONDS))
    for block in read_blocks(audio, block_frames):
        for index, role in enumerate(roles):
            yield recorder_pb2.StreamCallRequest(
                frame=recorder_pb2.AudioFrame(
                    channel=_CHANNEL_VALUE[role],
                    codec="pcm_s16le",
                    sample_rate=audio.sample_rate,
                    audio=np.ascontiguousarray(block[:, index]).astype("<i2").tobytes(),
                )
            )
        on_progress(len(block) / audio.sample_rate)


async def import_file(
    stub: recorder_pb2_grpc.RecorderStub,
    path: Path,
    *,
    language: str = "",
    queue: str = "",
    agent_channel: str = "right",
    mono_channel: str = "customer",
    on_progress: Callable[[float], None] = lambda seconds: None,
    timeout_s: float = 3600,
) -> ImportResult:
    """Stream one file to the recorder; never raises for a bad file (status "failed")."""
    try:
        sha256 = file_sha256(path)
        audio = probe(path)
        roles = channel_roles(audio.channels, agent_channel, mono_channel)
    except (UnreadableAudioError, OSError) as exc:
        return ImportResult(path, "failed", reason=str(exc))
    metadata = recorder_pb2.CallMetadata(
        external_call_id=f"sha256:{sha256}", queue=queue, language=language
    )
    call = stub.StreamCall(
        _requests(audio, metadata, roles, on_progress),
        metadata=((SOURCE_HEADER, "import"),),
        timeout=timeout_s,
    )
    try:
        response = await call
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.ALREADY_EXISTS:
            trailing = dict(exc.trailing_metadata() or ())
            return ImportResult(
                path,
                "skipped",
                call_id=str(trailing.get(EXISTING_CALL_HEADER, "")),
                object_key=str(trailing.get(EXISTING_KEY_HEADER, "")),
                reason="already imported",
                sha256=sha256,
            )
        return ImportResult(
            path, "failed", reason=f"{exc.code().name}: {exc.details()}", sha256=sha256
        )
    except (UnreadableAudioError, RuntimeError, ValueError) as exc:  # decoding failed mid-file
        return ImportResult(path, "failed", reason=str(exc), sha256=sha256)
    return ImportResult(
        path, "imported", call_id=response.call_id, object_key=response.object_key, sha256=sha256
    )
