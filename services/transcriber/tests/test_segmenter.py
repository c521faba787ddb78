from __future__ import annotations

import time
from collections.abc import Callable
from itertools import pairwise

import numpy as np
import pytest

from callscope_transcriber.domain.segmenter import (
    Upsampler2x,
    Utterance,
    UtteranceSegmenter,
    pcm16_8k_to_float32_16k,
    pcm16_to_float32,
)

CHUNK = 16000  # bytes: 1 s of PCM16 at 8 kHz, like the recorder's segments


def feed_chunks(
    seg: UtteranceSegmenter, pcm: bytes, offset_ms: int = 0, chunk: int = CHUNK
) -> list[Utterance]:
    out: list[Utterance] = []
    for i in range(0, len(pcm), chunk):
        out += seg.feed(pcm[i : i + chunk], offset_ms + i // 16)
    return out


def silent_runs_ms(pcm: bytes, min_ms: int) -> list[tuple[int, int]]:
    """[start, end) of runs of 10 ms frames without signal, at least min_ms long."""
    x = pcm16_to_float32(pcm)
    frames = x[: len(x) // 80 * 80].reshape(-1, 80)
    quiet = np.sqrt(np.mean(frames**2, axis=1)) < 1e-3
    runs, start = [], None
    for i, q in enumerate([*quiet, False]):
        if q and start is None:
            start = i
        elif not q and start is not None:
            if (i - start) * 10 >= min_ms:
                runs.append((start * 10, i * 10))
            start = None
    return runs


def test_two_sentences_split_at_the_pause(read_pcm: Callable[[str], bytes]) -> None:
    pcm = read_pcm("two_sentences.wav")
    [(pause_start, pause_end)] = silent_runs_ms(pcm, 1000)  # the 1.2 s inserted by the script
    seg = UtteranceSegmenter()

    during = feed_chunks(seg, pcm)
    tail = seg.flush()

    # The first sentence is complete once 600 ms of its pause were seen; the second ends with
    # the clip (less trailing silence than min_silence_ms), so only flush() can emit it.
    assert len(during) == 1 and len(tail) == 1
    first, second = during[0], tail[0]
    assert first.start_ms <= 50 and pause_start < first.end_ms < pause_end
    assert pause_start < second.start_ms < pause_end <= second.end_ms
    assert second.end_ms >= len(pcm) // 16 - 50
    for u in (first, second):
        assert u.audio.dtype == np.float32 and u.audio.ndim == 1
        assert abs(len(u.audio) - (u.end_ms - u.start_ms) * 16) <= 16
    assert seg.flush() == [] and seg.pending_speech() is None


def test_noise_and_silence_give_nothing(read_pcm: Callable[[str], bytes]) -> None:
    seg = UtteranceSegmenter()
    assert feed_chunks(seg, read_pcm("noise.wav")) == []
    assert seg.pending_speech() is None
    assert seg.flush() == []


def test_flush_returns_the_unfinished_tail(read_pcm: Callable[[str], bytes]) -> None:
    pcm = read_pcm("en_sentence.wav")
    seg = UtteranceSegmenter()
    assert feed_chunks(seg, pcm[: 3 * CHUNK]) == []

    pending = seg.pending_speech()
    assert pending is not None and pending.start_ms <= 50 and pending.end_ms >= 2990

    assert feed_chunks(seg, pcm[3 * CHUNK :], offset_ms=3000) == []  # no final pause yet
    [tail] = seg.flush()
    assert tail.start_ms <= 50 and tail.end_ms >= len(pcm) // 16 - 50
    assert seg.pending_speech() is None


def test_positions_follow_gaps_and_ignore_overlaps(read_pcm: Callable[[str], bytes]) -> None:
    pcm = read_pcm("two_sentences.wav")
    ref = UtteranceSegmenter()
    expected = feed_chunks(ref, pcm) + ref.flush()

    # Same audio, but every chunk is sent twice (redelivery) and the clip arrives 7 s late after
    # a first, silent chunk: positions shift by the gap, the content does not change.
    seg = UtteranceSegmenter()
    got = seg.feed(bytes(CHUNK), 0)
    for i in range(0, len(pcm), CHUNK):
        got += seg.feed(pcm[i : i + CHUNK], 8000 + i // 16)
        got += seg.feed(pcm[i : i + CHUNK], 8000 + i // 16)
    got += seg.flush()

    assert len(got) == len(expected) == 2
    for g, e in zip(got, expected, strict=True):
        # The reference's first utterance had no audio before it for its 200 ms leading pad.
        assert -240 <= g.start_ms - (e.start_ms + 8000) <= 40
        assert abs(g.end_ms - (e.end_ms + 8000)) <= 40


def test_long_gap_is_skipped_cheaply(read_pcm: Callable[[str], bytes]) -> None:
    pcm = read_pcm("en_sentence.wav")
    seg = UtteranceSegmenter()
    started = time.perf_counter()
    first = feed_chunks(seg, pcm)
    # Two hours later (a call on hold): the first sentence closes, nothing is scored for hours.
    second = feed_chunks(seg, pcm, offset_ms=2 * 3600 * 1000) + seg.flush()
    elapsed = time.perf_counter() - started

    assert first == []
    assert len(second) == 2
    assert second[0].end_ms < 5000
    assert 2 * 3600 * 1000 - 250 <= second[1].start_ms <= 2 * 3600 * 1000 + 50  # 200 ms pad
    assert elapsed < 5.0


def test_over_long_speech_is_cut_in_a_pause(read_pcm: Callable[[str], bytes]) -> None:
    # About 14 s of speech whose pauses are all shorter than min_silence_ms.
    x = pcm16_to_float32(read_pcm("en_sentence.wav"))[: 4420 * 8]
    gap = np.zeros(250 * 8, dtype=np.float32)
    stream = np.concatenate([x, gap, x, gap, x])
    pcm = (np.clip(stream, -1, 1) * 32767).astype("<i2").tobytes()
    quiet = silent_runs_ms(pcm, 60)

    seg = UtteranceSegmenter(max_utterance_s=6.0)
    utterances = feed_chunks(seg, pcm) + seg.flush()

    assert len(utterances) >= 3
    for u in utterances:
        assert u.end_ms - u.start_ms <= 6000
    for a, b in pairwise(utterances):
        assert a.end_ms <= b.start_ms + 1  # no overlap
        cut = b.start_ms
        assert any(s <= cut <= e for s, e in quiet), f"cut at {cut} ms is not in a pause"


def test_upsampler_is_chunk_independent_and_band_limited() -> None:
    t = np.arange(8000) / 8000
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    pcm = (tone * 32767).astype("<i2").tobytes()

    whole = pcm16_8k_to_float32_16k(pcm)
    up = Upsampler2x()
    parts = [up.process(pcm16_to_float32(pcm[i : i + 1234])) for i in range(0, len(pcm), 1234)]
    streamed = np.concatenate([*parts, up.flush()])

    assert len(whole) == 16000
    np.testing.assert_allclose(streamed, whole, atol=1e-6)
    spectrum = np.abs(np.fft.rfft(whole[2000:14000] * np.hanning(12000)))
    freqs = np.fft.rfftfreq(12000, 1 / 16000)
    tone_level = spectrum[np.argmin(np.abs(freqs - 1000))]
    image_level = spectrum[np.argmin(np.abs(freqs - 7000))]  # the mirror of 1 kHz
    assert image_level < tone_level * 1e-3  # at least 60 dB down


@pytest.mark.parametrize("kwargs", [{"min_silence_ms": 0}, {"max_utterance_s": 0.5}])
def test_rejects_bad_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        UtteranceSegmenter(**kwargs)  # type: ignore[arg-type]
