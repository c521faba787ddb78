"""Transcription quality on the committed English test speech, held to bounds so regressions
show (the figures for every language and model: services/transcriber/bench/bench_quality.py).

Bounds are set above what was measured (espeak-ng voices, greedy decoding, language given as
from call metadata): tiny.en 0.072 wideband / 0.217 telephone band; base 0.058 / 0.232.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

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


def test_english_is_detected_among_four_languages(base_model_dir: Path, speech_dir: Path) -> None:
    model = WhisperEngine(base_model_dir, languages=("en", "fr", "ru", "zh"))
    score = evaluate(model, load_clips(speech_dir, "en"), "8k")
    assert score.detected_ok == score.clips, score.hypotheses
