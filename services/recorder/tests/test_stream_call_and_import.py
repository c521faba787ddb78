"""StreamCall frame checks, Twilio request signatures, and the importer's decoding of WAV,
FLAC and MP3 files (real files written with soundfile and PyAV)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import soundfile

from callscope.v1 import common_pb2, recorder_pb2
from callscope_recorder.importer import (
    UnreadableAudioError,
    channel_roles,
    file_sha256,
    find_audio_files,
    probe,
    read_blocks,
)
from callscope_recorder.ingest.grpc_stream import Frame, FrameError, call_info, check_frame
from callscope_recorder.ingest.twilio.server import signature_valid, twilio_signature

CUSTOMER, AGENT = common_pb2.CHANNEL_CUSTOMER, common_pb2.CHANNEL_AGENT


def frame(**fields: object) -> recorder_pb2.AudioFrame:
    return recorder_pb2.AudioFrame(**fields)  # type: ignore[arg-type]


def test_valid_frames() -> None:
    assert check_frame(frame(channel=CUSTOMER, codec="PCMU", audio=b"\xff" * 160)) == Frame(
        "customer", "pcmu", 8000, b"\xff" * 160
    )
    pcm = frame(channel=AGENT, codec="pcm_s16le", sample_rate=16000, audio=b"\x00" * 640)
    assert check_frame(pcm) == Frame("agent", "pcm_s16le", 16000, b"\x00" * 640)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"codec": "pcmu", "audio": b"\x00"}, "unknown channel 0"),
        ({"channel": CUSTOMER, "codec": "opus"}, "unsupported codec 'opus'"),
        ({"channel": CUSTOMER, "codec": "pcm_s16le", "sample_rate": 96000}, "outside 8000..48000"),
        ({"channel": CUSTOMER, "codec": "pcm_s16le", "audio": b"\x00" * 3}, "whole 16-bit"),
        ({"channel": CUSTOMER, "codec": "pcma", "sample_rate": 16000}, "pcma is 8000 Hz"),
        ({"channel": AGENT, "codec": "pcmu", "audio": b"\x00" * 2001}, "exceeds 2000"),
    ],
)
def test_bad_frames_say_what_is_wrong(fields: dict, reason: str) -> None:
    with pytest.raises(FrameError, match=reason):
        check_frame(frame(**fields), max_frame_bytes=2000)


def test_call_metadata_becomes_the_call_info() -> None:
    info = call_info(
        recorder_pb2.CallMetadata(
            queue="q", language="fr", agent_id="a7", customer_number="+336", tenant="t"
        ),
        "grpc",
    )
    assert (info.source, info.queue, info.language, info.tenant, info.call_id) == (
        "grpc",
        "q",
        "fr",
        "t",
        None,
    )
    assert [(p.aor, p.channel) for p in info.participants] == [
        ("tel:+336", "customer"),
        ("a7", "agent"),
    ]


def test_twilio_signature_is_hmac_sha1_of_the_url() -> None:
    url = "wss://recorder.example.com/twilio?tenant=acme"
    signature = twilio_signature("secret-token", url)
    assert signature_valid("secret-token", url, signature)
    assert not signature_valid("secret-token", url + "x", signature)
    assert not signature_valid("other-token", url, signature)
    assert not signature_valid("secret-token", url, None)


# -- importer -------------------------------------------------------------------------------

RATE = 8000
LEFT = (np.sin(np.arange(RATE * 2) / 5) * 8000).astype("<i2")
RIGHT = (np.sin(np.arange(RATE * 2) / 9) * 4000).astype("<i2")


def test_wav_and_flac_are_read_block_by_block_without_loss(tmp_path: Path) -> None:
    stereo = np.stack([LEFT, RIGHT], axis=1)
    for name in ("call.wav", "call.flac"):
        path = tmp_path / name
        soundfile.write(path, stereo, RATE, subtype="PCM_16")
        audio = probe(path)
        assert (audio.sample_rate, audio.channels, audio.frames) == (RATE, 2, len(LEFT))
        blocks = list(read_blocks(audio, 4000))
        assert [len(b) for b in blocks] == [4000, 4000, 4000, 4000]
        assert np.array_equal(np.concatenate(blocks), stereo)


def test_mp3_is_decoded_with_pyav(tmp_path: Path) -> None:
    path = tmp_path / "call.mp3"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libmp3lame", rate=16000, layout="stereo")
        stereo = np.repeat(np.stack([LEFT, RIGHT], axis=1), 2, axis=0)
        audio_frame = av.AudioFrame.from_ndarray(
            stereo.reshape(1, -1), format="s16", layout="stereo"
        )
        audio_frame.sample_rate = 16000
        for packet in [*stream.encode(audio_frame), *stream.encode(None)]:
            out.mux(packet)
    audio = probe(path)
    assert (audio.sample_rate, audio.channels) == (16000, 2)
    decoded = np.concatenate(list(read_blocks(audio, 8000)))
    assert decoded.shape[1] == 2 and abs(len(decoded) - len(stereo)) < 2500
    # Lossy, but each side keeps its own signal: the left one is about twice as loud.
    left, right = (float(np.sqrt(np.mean(decoded[:, i].astype(float) ** 2))) for i in (0, 1))
    assert 1.6 < left / right < 2.4


def test_unreadable_files_are_refused_with_the_reason(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.wav"
    bogus.write_text("not audio")
    with pytest.raises(UnreadableAudioError, match=r"cannot read notes\.wav"):
        probe(bogus)
    with pytest.raises(UnreadableAudioError, match="cannot read"):
        probe(tmp_path / "missing.mp3")


def test_channel_roles() -> None:
    assert channel_roles(2, "right", "customer") == ["customer", "agent"]
    assert channel_roles(2, "left", "customer") == ["agent", "customer"]
    assert channel_roles(1, "right", "agent") == ["agent"]
    with pytest.raises(UnreadableAudioError, match="only mono or stereo"):
        channel_roles(6, "right", "customer")
    with pytest.raises(UnreadableAudioError, match="left or right"):
        channel_roles(2, "middle", "customer")


def test_directories_are_expanded_in_a_stable_order_and_identity_is_content(
    tmp_path: Path,
) -> None:
    (tmp_path / "b").mkdir()
    for name in ("b/2.flac", "a.wav", "b/1.MP3", "notes.txt"):
        (tmp_path / name).write_bytes(b"same")
    found = find_audio_files([tmp_path, tmp_path / "a.wav"])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a.wav", "b/1.MP3", "b/2.flac"]
    assert file_sha256(found[0]) == file_sha256(found[1])
