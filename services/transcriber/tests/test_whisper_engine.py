"""Engine tests on the real whisper-base weights; they share one loaded model (module scope)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from callscope_transcriber.engine import (
    Transcription,
    WhisperEngine,
    Word,
    build_transcription,
    in_chinese_script,
    is_silence_hallucination,
)
from callscope_transcriber.settings import TranscriberSettings

# The texts data/make_fixtures.sh speaks.
EN_TEXT = "Hello, thank you for calling customer support. How can I help you today?"
FR_TEXT = "Je suis désolé, mais je ne comprends pas votre question."


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate: word-level Levenshtein distance over the reference length."""

    def words(s: str) -> list[str]:
        return re.sub(r"[^\w\s']", " ", s.lower()).split()

    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / max(len(ref), 1)


def test_wer_helper() -> None:
    assert wer("a b c d", "a b c d") == 0
    assert wer("a b c d", "a x c") == 0.5
    assert wer("Hello, world!", "hello world") == 0


@pytest.fixture(scope="module")
def engine(base_model_dir: Path) -> Iterator[WhisperEngine]:
    started = time.perf_counter()
    yield WhisperEngine(base_model_dir, languages=("en", "fr", "ru", "zh"))
    print(f"\nwhisper-base engine module: {time.perf_counter() - started:.1f} s")


def test_english_transcript_words_and_language(
    engine: WhisperEngine, read_16k: Callable[[str], np.ndarray]
) -> None:
    audio = read_16k("en_sentence.wav")
    result = engine.transcribe(audio)  # language detected, restricted to en/fr/ru/zh

    assert result is not None
    assert wer(EN_TEXT, result.text) <= 0.35, result.text
    assert result.language == "en" and result.language_probability > 0.5
    assert 0 < result.confidence <= 1
    assert result.no_speech_prob < 0.5 and result.avg_logprob > -1.0
    duration_ms = len(audio) * 1000 // 16000
    assert [w.text for w in result.words][:3] == ["Hello,", "thank", "you"]
    starts = [w.start_ms for w in result.words]
    assert starts == sorted(starts)
    assert all(0 <= w.start_ms <= w.end_ms <= duration_ms + 100 for w in result.words)


def test_french_is_detected(engine: WhisperEngine, read_16k: Callable[[str], np.ndarray]) -> None:
    result = engine.transcribe(read_16k("fr_sentence.wav"))

    assert result is not None and result.language == "fr", result
    assert "je" in result.text.lower().split()


def test_noise_gives_no_transcript(
    engine: WhisperEngine, read_16k: Callable[[str], np.ndarray]
) -> None:
    assert engine.transcribe(read_16k("noise.wav")) is None
    assert engine.transcribe(np.zeros(16000, dtype=np.float32)) is None
    assert engine.transcribe(np.zeros(800, dtype=np.float32)) is None  # too short to try


def test_given_language_is_used(
    engine: WhisperEngine, read_16k: Callable[[str], np.ndarray]
) -> None:
    result = engine.transcribe(read_16k("en_sentence.wav"), language="en")
    assert result is not None and result.language == "en" and result.language_probability == 1.0
    assert wer(EN_TEXT, result.text) <= 0.35


def test_routing_languages_in_bcp47_are_read_as_whisper_codes(
    engine: WhisperEngine, read_16k: Callable[[str], np.ndarray]
) -> None:
    # Routing sends BCP-47 ("en-US"); Whisper only knows "en" and raised on the tag.
    assert engine.whisper_language("en-US") == "en"
    assert engine.whisper_language("zh_Hans_CN") == "zh"
    assert engine.whisper_language("de-DE") is None  # not configured: detected instead
    assert engine.whisper_language("") is None
    result = engine.transcribe(read_16k("en_sentence.wav"), language="en-US")
    assert result is not None and result.language == "en"
    assert wer(EN_TEXT, result.text) <= 0.35
    detected = engine.transcribe(read_16k("en_sentence.wav"), language="de-DE")
    assert detected is not None and detected.language == "en"


def _segment(text: str, **kw: float) -> SimpleNamespace:
    fields = {"no_speech_prob": 0.1, "avg_logprob": -0.3, "compression_ratio": 1.2}
    fields.update(kw)
    word = SimpleNamespace(word=f" {text}", start=0.1, end=0.5, probability=0.8)
    return SimpleNamespace(text=f" {text}", tokens=[1, 2, 3], words=[word], **fields)


QUIET = np.full(16000, 0.001, dtype=np.float32)  # -60 dBFS
LOUD = np.full(16000, 0.1, dtype=np.float32)  # -20 dBFS


def test_hallucination_filters() -> None:
    assert is_silence_hallucination("Thank you.", "en")
    assert is_silence_hallucination("Sous-titres réalisés par la communauté d'Amara.org", "fr")
    assert is_silence_hallucination("Продолжение следует...", "ru")
    assert not is_silence_hallucination("Thank you, bye for now.", "en")

    # Known silence phrases are dropped only when the audio is quiet (or judged speechless).
    assert build_transcription([_segment("Thank you.")], QUIET, "en", 0.9) is None
    kept = build_transcription([_segment("Thank you.")], LOUD, "en", 0.9)
    assert isinstance(kept, Transcription) and kept.text == "Thank you."
    assert (
        build_transcription([_segment("Thank you.", no_speech_prob=0.5)], LOUD, "en", 0.9) is None
    )

    # Whisper's own heuristics and empty text.
    speechless = _segment("Hello there.", no_speech_prob=0.7, avg_logprob=-1.2)
    assert build_transcription([speechless], LOUD, "en", 0.9) is None
    assert build_transcription([_segment("la la la", compression_ratio=2.6)], LOUD, "en", 1) is None
    assert build_transcription([_segment("...")], LOUD, "en", 0.9) is None
    assert build_transcription([], LOUD, "en", 0.9) is None


def test_build_transcription_merges_segments() -> None:
    result = build_transcription(
        [_segment("Hello."), _segment("Goodbye.", avg_logprob=-0.6, no_speech_prob=0.2)],
        LOUD,
        "en",
        0.7,
    )
    assert result is not None
    assert result.text == "Hello. Goodbye."
    assert [w.text for w in result.words] == ["Hello.", "Goodbye."]
    assert result.words[0].start_ms == 100 and result.words[0].end_ms == 500
    assert result.avg_logprob == pytest.approx(-0.45)
    assert result.no_speech_prob == pytest.approx(0.2)
    assert result.confidence == pytest.approx(0.8)


def test_chinese_transcripts_are_put_in_the_sites_script() -> None:
    whisper_wrote = Transcription(  # Whisper base on mainland Mandarin: Traditional characters
        text="我想申請退款",
        language="zh",
        language_probability=1.0,
        confidence=0.9,
        words=[Word("我想", 0, 300, 0.9), Word("申請", 300, 600, 0.9), Word("退款", 600, 900, 0.9)],
        avg_logprob=-0.2,
        no_speech_prob=0.01,
    )
    simplified = in_chinese_script(whisper_wrote, "simplified")
    assert simplified.text == "我想申请退款"
    assert [(w.text, w.start_ms, w.end_ms) for w in simplified.words] == [
        ("我想", 0, 300),
        ("申请", 300, 600),
        ("退款", 600, 900),
    ]
    assert in_chinese_script(simplified, "traditional").text == "我想申請退款"
    assert in_chinese_script(whisper_wrote, "original") is whisper_wrote


def test_an_unknown_chinese_script_is_refused_before_loading_a_model(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="chinese_script"):
        WhisperEngine(tmp_path / "no-model", chinese_script="pinyin")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="chinese_script"):
        TranscriberSettings(chinese_script="pinyin")  # type: ignore[arg-type]
