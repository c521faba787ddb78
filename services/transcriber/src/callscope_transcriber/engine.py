"""Whisper (faster-whisper / CTranslate2) transcription of one already-cut utterance."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from callscope_core.chinese import CHINESE_SCRIPTS, ChineseScript, to_script

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

SAMPLE_RATE = 16000
# Whisper's own silence heuristics, applied per segment.
NO_SPEECH_PROB_MAX = 0.6
AVG_LOGPROB_MIN = -1.0
COMPRESSION_RATIO_MAX = 2.4
# Tokens a decode may produce per second of audio (fast Chinese speech is about 10): a cap
# that stops a repetition loop early instead of after Whisper's 448 tokens.
MAX_TOKENS_PER_S = 16
MAX_TOKENS = 400  # Whisper's context is 448 tokens, prompt included
# Decoding temperatures tried in turn while a result fails the two checks above (Whisper's).
TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
# Below this RMS level an utterance is at most faint speech, so the phrases Whisper is known to
# produce on silence or noise (learnt from subtitle credits) are taken as hallucinations.
LOW_ENERGY_DBFS = -40.0
# A known phrase with this much no-speech probability is dropped whatever the energy (e.g. loud
# hold music); real speech scores far lower.
HALLUCINATION_NO_SPEECH_PROB = 0.3

# Normalised (lower case, no punctuation, single spaces) texts per language.
SILENCE_HALLUCINATIONS: dict[str, frozenset[str]] = {
    "en": frozenset(
        {
            "thank you",
            "thank you very much",
            "thanks for watching",
            "thank you for watching",
            "thanks for watching and see you next time",
            "please subscribe",
            "subscribe to my channel",
            "bye",
            "you",
        }
    ),
    "fr": frozenset(
        {
            "merci",
            "merci davoir regardé",
            "merci à tous",
            "sous-titres réalisés par la communauté damaraorg",
            "sous-titrage st 501",
            "sous-titrage société radio-canada",
        }
    ),
    "ru": frozenset(
        {
            "продолжение следует",
            "спасибо",
            "спасибо за внимание",
            "субтитры сделал dimatorzok",
            "субтитры создавал dimatorzok",
            "редактор субтитров асинкевич корректор аегорова",
        }
    ),
    "zh": frozenset(
        {
            "谢谢",
            "谢谢观看",
            "谢谢大家",
            "请不吝点赞 订阅 转发 打赏支持明镜与点点栏目",
            "字幕由amaraorg社区提供",
            "小编字幕由amaraorg社区提供",
        }
    ),
}
# Credits lines that Whisper completes with varying names: matched on their start.
SILENCE_HALLUCINATION_PREFIXES: dict[str, tuple[str, ...]] = {
    "fr": ("sous-titres réalisés par", "sous-titrage"),
    "ru": ("субтитры", "редактор субтитров"),
    "zh": ("字幕由", "字幕"),
    "en": ("subtitles by", "transcription by"),
}

_PUNCT = re.compile(r"[^\w\s-]", re.UNICODE)
_SPACES = re.compile(r"\s+")


@dataclass
class Word:
    text: str
    start_ms: int  # relative to the start of the transcribed audio
    end_ms: int
    probability: float


@dataclass
class Transcription:
    text: str
    language: str
    language_probability: float
    confidence: float  # mean word probability
    words: list[Word]
    avg_logprob: float
    no_speech_prob: float


def normalize_text(text: str) -> str:
    """Lower case, punctuation removed (hyphens kept), whitespace collapsed."""
    return _SPACES.sub(" ", _PUNCT.sub("", text.lower().replace("\u2019", "'"))).strip()


def rms_dbfs(audio: np.ndarray) -> float:
    if not len(audio):
        return -120.0
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    return 20.0 * float(np.log10(max(rms, 1e-6)))


def is_silence_hallucination(text: str, language: str) -> bool:
    norm = normalize_text(text).replace("'", "").replace(".", "")
    if norm in SILENCE_HALLUCINATIONS.get(language, frozenset()):
        return True
    return norm.startswith(SILENCE_HALLUCINATION_PREFIXES.get(language, ()))


def _load_model(model_dir: Path, device: str, compute_type: str, cpu_threads: int) -> Any:
    # Set before the first faster_whisper import (huggingface_hub reads it once at import).
    os.environ["HF_HUB_OFFLINE"] = "1"
    from faster_whisper import WhisperModel

    class _EncoderCachingModel(WhisperModel):
        """Re-uses the last encoder output for identical input features.

        Restricted language detection encodes the utterance, and transcribe() would then encode
        exactly the same 30 s mel window again; the encoder is most of the cost of a short
        utterance, so the second run is served from here. Key: a digest of the features.
        """

        _last: tuple[bytes, Any] | None = None

        def encode(self, features: np.ndarray) -> Any:
            key = hashlib.blake2b(np.ascontiguousarray(features).tobytes(), digest_size=16)
            digest = key.digest()
            if self._last is not None and self._last[0] == digest:
                return self._last[1]
            output = super().encode(features)
            self._last = (digest, output)
            return output

        def forget_encoding(self) -> None:
            self._last = None

    return _EncoderCachingModel(
        str(model_dir),
        device=device,
        compute_type=compute_type,
        cpu_threads=cpu_threads,
        local_files_only=True,
    )


class WhisperEngine:
    """One loaded Whisper model; ``transcribe`` calls are serialised (one utterance at a time)."""

    def __init__(
        self,
        model_dir: Path,
        *,
        device: str = "cpu",
        compute_type: str = "int8",
        cpu_threads: int = 2,
        beam_size: int = 1,
        languages: Sequence[str] = ("en", "fr", "ru", "zh"),
        chinese_script: ChineseScript = "simplified",
    ) -> None:
        """``chinese_script``: the script of Chinese transcripts (Whisper mixes Simplified
        and Traditional characters); "original" keeps what Whisper wrote."""
        if chinese_script not in CHINESE_SCRIPTS:
            raise ValueError(f"chinese_script must be one of {CHINESE_SCRIPTS}")
        self.chinese_script: ChineseScript = chinese_script
        self.model_dir = Path(model_dir)
        self.beam_size = beam_size
        self.languages: tuple[str, ...] = tuple(languages)
        if not self.languages:
            raise ValueError("languages must name at least one language")
        self._model: WhisperModel = _load_model(self.model_dir, device, compute_type, cpu_threads)
        self.multilingual: bool = bool(self._model.model.is_multilingual)
        unsupported = set(self.languages) - set(self._model.supported_languages)
        if self.multilingual and unsupported:
            raise ValueError(f"languages not supported by Whisper: {sorted(unsupported)}")
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """One decode of a second of faint noise: the first real utterance is not slowed by
        CTranslate2's lazy initialisation."""
        noise = np.random.default_rng(0).normal(0, 1e-3, SAMPLE_RATE).astype(np.float32)
        self.transcribe(noise, self.languages[0], temperature_fallback=False)

    def detect_language(self, audio: np.ndarray) -> tuple[str, float]:
        """Most probable of ``languages`` and its probability (Whisper's own pick is unreliable
        on short utterances). The encoding is kept, so transcribing the same audio next is cheap.
        """
        if not self.multilingual:
            return "en", 1.0
        with self._lock:
            return self._detect_locked(np.asarray(audio, dtype=np.float32))

    def transcribe(
        self,
        audio: np.ndarray,
        language: str | None = None,
        *,
        beam_size: int | None = None,
        word_timestamps: bool = True,
        temperature_fallback: bool = True,
    ) -> Transcription | None:
        """Transcribes one utterance (float32 16 kHz mono); None when it holds no real speech.

        ``beam_size`` overrides the engine's (the post-call pass uses a wider beam on the same
        model). Partials skip ``word_timestamps`` (an extra alignment pass) and the
        ``temperature_fallback`` (up to five more decodes when the first one looks unreliable):
        they are provisional, and must be quick.
        """
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 1:
            raise ValueError("audio must be mono: a 1-D float32 array at 16 kHz")
        if len(audio) < SAMPLE_RATE // 10:
            return None  # under 100 ms: nothing Whisper could read
        with self._lock:
            try:
                return self._transcribe_locked(
                    audio,
                    language,
                    beam_size or self.beam_size,
                    word_timestamps,
                    TEMPERATURES if temperature_fallback else (0.0,),
                )
            finally:
                self._model.forget_encoding()  # type: ignore[attr-defined]

    def whisper_language(self, language: str | None) -> str | None:
        """Whisper's code for a routing language (BCP-47 such as "en-US", "zh-Hans-CN": the
        primary subtag); None, so the language is detected, when it is empty or not one of the
        configured languages (a queue label Whisper cannot read must not fail the utterance)."""
        if not language:
            return None
        primary = language.replace("_", "-").split("-", 1)[0].strip().lower()
        return primary if primary in self.languages else None

    def _detect_locked(self, audio: np.ndarray) -> tuple[str, float]:
        from faster_whisper.audio import pad_or_trim

        model = self._model
        # The same first window that transcribe() encodes, so its encoding is cached for it.
        features = model.feature_extractor(audio)
        content_frames = features.shape[-1] - 1
        window = pad_or_trim(
            features[:, : min(model.feature_extractor.nb_max_frames, content_frames)]
        )
        probs = model.model.detect_language(model.encode(window))[0]
        allowed = {token[2:-2]: p for token, p in probs if token[2:-2] in self.languages}
        if not allowed:
            return self.languages[0], 0.0
        best = max(allowed, key=lambda lang: allowed[lang])
        return best, float(allowed[best])

    def _transcribe_locked(
        self,
        audio: np.ndarray,
        language: str | None,
        beam_size: int,
        word_timestamps: bool,
        temperatures: tuple[float, ...],
    ) -> Transcription | None:
        language = self.whisper_language(language)
        if not self.multilingual:
            language, language_probability = "en", 1.0
        elif language is None:
            language, language_probability = self._detect_locked(audio)
        else:
            language_probability = 1.0  # fixed by the caller

        segments, _info = self._model.transcribe(
            audio,
            language=language,
            beam_size=beam_size,
            word_timestamps=word_timestamps,
            temperature=list(temperatures),
            max_new_tokens=min(int(24 + MAX_TOKENS_PER_S * len(audio) / SAMPLE_RATE), MAX_TOKENS),
            vad_filter=False,  # the segmenter already cut the audio at pauses
            condition_on_previous_text=False,  # utterances are independent; avoids loops
            no_speech_threshold=NO_SPEECH_PROB_MAX,
            log_prob_threshold=AVG_LOGPROB_MIN,
            compression_ratio_threshold=COMPRESSION_RATIO_MAX,
        )
        result = build_transcription(list(segments), audio, language, language_probability)
        if result is not None and language == "zh":
            result = in_chinese_script(result, self.chinese_script)
        return result


def in_chinese_script(transcription: Transcription, script: ChineseScript) -> Transcription:
    """The transcription with its text and words in ``script``."""
    if script == "original":
        return transcription
    return dataclasses.replace(
        transcription,
        text=to_script(transcription.text, script),
        words=[dataclasses.replace(w, text=to_script(w.text, script)) for w in transcription.words],
    )


def build_transcription(
    segments: Sequence[Any], audio: np.ndarray, language: str, language_probability: float
) -> Transcription | None:
    """Turns faster-whisper segments into a Transcription, or None if they are not speech."""
    kept = [s for s in segments if not _is_garbage_segment(s)]
    if not kept:
        return None

    text = _SPACES.sub(" ", "".join(s.text for s in kept)).strip()
    if not any(ch.isalnum() for ch in text):
        return None
    no_speech_prob = max(s.no_speech_prob for s in kept)
    if is_silence_hallucination(text, language) and (
        rms_dbfs(audio) < LOW_ENERGY_DBFS or no_speech_prob > HALLUCINATION_NO_SPEECH_PROB
    ):
        return None

    words = [
        Word(
            text=w.word.strip(),
            start_ms=round(w.start * 1000),
            end_ms=round(w.end * 1000),
            probability=float(w.probability),
        )
        for s in kept
        for w in (s.words or [])
        if w.word.strip()
    ]
    n_tokens = [max(len(s.tokens), 1) for s in kept]
    avg_logprob = sum(s.avg_logprob * n for s, n in zip(kept, n_tokens, strict=True)) / sum(
        n_tokens
    )
    confidence = (
        sum(w.probability for w in words) / len(words) if words else float(np.exp(avg_logprob))
    )
    return Transcription(
        text=text,
        language=language,
        language_probability=language_probability,
        confidence=confidence,
        words=words,
        avg_logprob=avg_logprob,
        no_speech_prob=no_speech_prob,
    )


def _is_garbage_segment(segment: Any) -> bool:
    if segment.no_speech_prob > NO_SPEECH_PROB_MAX and segment.avg_logprob < AVG_LOGPROB_MIN:
        return True  # Whisper thinks there is no speech and is unsure of what it wrote
    return segment.compression_ratio > COMPRESSION_RATIO_MAX  # repetition loop
