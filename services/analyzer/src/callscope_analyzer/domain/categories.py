"""Call categories / intents per utterance and per call, defined in ``data/categories.yaml``.

Two ways to match, both from configuration so a new category needs no code:

* Semantic: the utterance embedding (any multilingual encoder, e.g. ``SentimentModel.embed``) is
  compared with each category's example phrases by cosine similarity, after removing the mean
  embedding of all configured phrases (see ``__init__``). A category's score is the
  mean of its ``top_k`` closest examples (one lucky neighbour is not enough). The best category
  must reach ``threshold`` and beat the closest ``background`` phrase (greetings, account
  numbers…), which keeps short, generic utterances out of every category. Other categories within
  ``multi_label_margin`` of the best are kept too (an utterance can be both a billing dispute
  and a complaint). Examples of every language are compared with every
  utterance: the encoder is multilingual and the STT language guess can be wrong.
* Keyword: per-language phrases matched by :class:`keywords.PhraseMatcher` (exact, score 1.0).
  A keyword match wins over a semantic one for the same category: it is the stronger evidence.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal

import numpy as np
import yaml

from .keywords import PhraseMatcher, fold

CATEGORIES_DATA: Traversable = resources.files("callscope_analyzer") / "data" / "categories.yaml"

EmbedFn = Callable[[Sequence[str]], np.ndarray]
Via = Literal["semantic", "keyword"]

_DEFAULTS = {"threshold": 0.3, "top_k": 2, "multi_label_margin": 0.03, "background_margin": 0.0}


class CategoryConfigError(ValueError):
    """The category YAML is malformed; the message names the category and key."""


@dataclass(frozen=True)
class CategoryMatch:
    name: str
    score: float  # cosine similarity for "semantic", 1.0 for "keyword"
    via: Via


@dataclass(frozen=True)
class Category:
    name: str
    label: str
    flagged: bool
    examples: tuple[str, ...]
    threshold: float | None = None  # per-category override of the semantic threshold
    keywords: PhraseMatcher | None = field(default=None, compare=False)


@dataclass(frozen=True)
class SemanticSettings:
    threshold: float = _DEFAULTS["threshold"]
    top_k: int = int(_DEFAULTS["top_k"])
    multi_label_margin: float = _DEFAULTS["multi_label_margin"]
    background_margin: float = _DEFAULTS["background_margin"]


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    # Cosine similarity as a dot product; an all-zero row (encoder failure) stays zero.
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"embed() must return a 2-D array, got shape {matrix.shape}")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


class CategoryModel:
    """Classifies utterances into the configured categories (thread-safe: read-only after init)."""

    def __init__(
        self,
        categories: Sequence[Category],
        embed: EmbedFn,
        *,
        background: Sequence[str] = (),
        settings: SemanticSettings | None = None,
    ) -> None:
        self.categories: tuple[Category, ...] = tuple(categories)
        self.settings = settings or SemanticSettings()
        self._embed = embed
        texts: list[str] = []
        owners: list[int] = []
        for index, category in enumerate(self.categories):
            texts.extend(category.examples)
            owners.extend([index] * len(category.examples))
        # One batch for examples and background: start-up cost is one encoder pass.
        everything = [*texts, *background]
        matrix = _unit_rows(embed(everything)) if everything else np.zeros((0, 0))
        # e5 embeddings share a large common direction (raw cosines of unrelated sentences are
        # ~0.8-0.9); removing the mean of the configured phrases spreads them out: on our
        # development phrases this lifted top-1 accuracy from ~87% to ~92% and makes the
        # threshold meaningful (clear matches score 0.4-0.7, unrelated text 0.2-0.35: the
        # background phrases do most of the rejecting).
        self._center = matrix.mean(axis=0) if len(matrix) else np.zeros(0)
        matrix = _unit_rows(matrix - self._center) if len(matrix) else matrix
        self._examples = matrix[: len(texts)]
        self._owners = np.array(owners, dtype=np.int64)
        self._background = matrix[len(texts) :]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.categories)

    @property
    def flagged(self) -> frozenset[str]:
        """Categories the business wants a supervisor alert on."""
        return frozenset(c.name for c in self.categories if c.flagged)

    @classmethod
    def load(
        cls,
        path: Path | Traversable = CATEGORIES_DATA,
        embed: EmbedFn | None = None,
        *,
        threshold: float | None = None,
    ) -> CategoryModel:
        """Read a categories YAML and embed its examples with ``embed``.

        ``threshold`` overrides the file's ``semantic.threshold`` (e.g. from settings).
        """
        if embed is None:
            raise TypeError("CategoryModel.load needs an embed function, e.g. SentimentModel.embed")
        doc = yaml.safe_load(path.read_bytes())
        return cls.from_mapping(doc, embed, name=str(path), threshold=threshold)

    @classmethod
    def from_mapping(
        cls,
        doc: object,
        embed: EmbedFn,
        *,
        name: str = "categories",
        threshold: float | None = None,
    ) -> CategoryModel:
        if not isinstance(doc, Mapping) or not isinstance(doc.get("categories"), Mapping):
            raise CategoryConfigError(f"{name}: expected a mapping under 'categories'")
        settings = _semantic_settings(doc.get("semantic") or {}, name)
        if threshold is not None:
            settings = SemanticSettings(
                threshold=float(threshold),
                top_k=settings.top_k,
                multi_label_margin=settings.multi_label_margin,
                background_margin=settings.background_margin,
            )
        categories = [
            _parse_category(str(key), spec, name) for key, spec in doc["categories"].items()
        ]
        background = [
            text
            for texts in _per_language(doc.get("background") or {}, name, "background").values()
            for text in texts
        ]
        return cls(categories, embed, background=background, settings=settings)

    def classify(self, text: str, language: str | None) -> list[CategoryMatch]:
        """Categories of one utterance, best first; empty for empty or generic text."""
        return self.classify_many([text], [language])[0]

    def classify_many(
        self, texts: Sequence[str], languages: Sequence[str | None]
    ) -> list[list[CategoryMatch]]:
        """:meth:`classify` for several utterances with one encoder call."""
        if len(texts) != len(languages):
            raise ValueError("texts and languages must have the same length")
        cleaned = [" ".join(str(t).split()) for t in texts]
        judged = [i for i, t in enumerate(cleaned) if fold(t)]  # nothing said, nothing to classify
        semantic: dict[int, dict[str, float]] = {}
        if judged and len(self._examples):
            vectors = self._vectors([cleaned[i] for i in judged])
            for row, i in enumerate(judged):
                semantic[i] = self._semantic_scores(vectors[row])
        results: list[list[CategoryMatch]] = []
        for i, text in enumerate(cleaned):
            found: dict[str, CategoryMatch] = {
                name: CategoryMatch(name, round(score, 4), "semantic")
                for name, score in semantic.get(i, {}).items()
            }
            if i in semantic or fold(text):
                for category in self.categories:
                    if category.keywords and category.keywords.find(text, languages[i]):
                        found[category.name] = CategoryMatch(category.name, 1.0, "keyword")
            results.append(sorted(found.values(), key=lambda m: (-m.score, m.name)))
        return results

    def scores(self, text: str) -> dict[str, float]:
        """Raw semantic score of every category (for tuning thresholds; no filtering)."""
        if not fold(text) or not len(self._examples):
            return {}
        vector = self._vectors([" ".join(text.split())])[0]
        per_category, _ = self._raw_scores(vector)
        return {
            c.name: round(float(s), 4) for c, s in zip(self.categories, per_category, strict=True)
        }

    def _vectors(self, texts: list[str]) -> np.ndarray:
        return _unit_rows(_unit_rows(self._embed(texts)) - self._center)

    def _raw_scores(self, vector: np.ndarray) -> tuple[np.ndarray, float]:
        similarities = self._examples @ vector
        k = max(1, self.settings.top_k)
        per_category = np.full(len(self.categories), -1.0)
        for index in range(len(self.categories)):
            own = np.sort(similarities[self._owners == index])[::-1]
            if len(own):
                per_category[index] = float(own[:k].mean())
        background = float((self._background @ vector).max()) if len(self._background) else -1.0
        return per_category, background

    def _semantic_scores(self, vector: np.ndarray) -> dict[str, float]:
        per_category, background = self._raw_scores(vector)
        best = float(per_category.max())
        if best < background + self.settings.background_margin:
            return {}
        kept: dict[str, float] = {}
        for category, score in zip(self.categories, per_category, strict=True):
            threshold = (
                category.threshold if category.threshold is not None else self.settings.threshold
            )
            if score >= threshold and score >= best - self.settings.multi_label_margin:
                kept[category.name] = float(score)
        return kept


def call_categories(
    matches_per_utterance: Sequence[Sequence[CategoryMatch | str]],
    *,
    min_utterances: int = 1,
    min_score: float = 0.0,
) -> list[str]:
    """Categories of a whole call from its utterances' matches.

    A category counts when at least ``min_utterances`` utterances matched it with a score of at
    least ``min_score`` (keyword matches and bare names, as stored in the database, count as 1.0).
    Ordered by how many utterances raised it, then by best score, then by name, so the first
    entry is the call's main reason.
    """
    counts: dict[str, int] = {}
    best: dict[str, float] = {}
    for matches in matches_per_utterance:
        seen: set[str] = set()  # a category twice in one utterance is still one utterance
        for match in matches:
            name, score = (match, 1.0) if isinstance(match, str) else (match.name, match.score)
            if score < min_score or name in seen:
                continue
            seen.add(name)
            counts[name] = counts.get(name, 0) + 1
            best[name] = max(best.get(name, 0.0), score)
    kept = [name for name, count in counts.items() if count >= max(1, min_utterances)]
    return sorted(kept, key=lambda name: (-counts[name], -best[name], name))


def _semantic_settings(raw: object, name: str) -> SemanticSettings:
    if not isinstance(raw, Mapping):
        raise CategoryConfigError(f"{name}: 'semantic' must be a mapping")
    unknown = set(raw) - set(_DEFAULTS)
    if unknown:
        raise CategoryConfigError(f"{name}: semantic: unknown key(s) {sorted(unknown)}")
    values: dict[str, float] = {}
    for key, default in _DEFAULTS.items():
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CategoryConfigError(f"{name}: semantic.{key} must be a number, got {value!r}")
        values[key] = float(value)
    if values["top_k"] < 1:
        raise CategoryConfigError(f"{name}: semantic.top_k must be >= 1")
    return SemanticSettings(
        threshold=values["threshold"],
        top_k=int(values["top_k"]),
        multi_label_margin=values["multi_label_margin"],
        background_margin=values["background_margin"],
    )


def _per_language(raw: object, name: str, where: str) -> dict[str, list[str]]:
    if not isinstance(raw, Mapping):
        raise CategoryConfigError(f"{name}: {where} must be a mapping of language -> list")
    out: dict[str, list[str]] = {}
    for language, items in raw.items():
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise CategoryConfigError(f"{name}: {where}.{language} must be a list of strings")
        out[str(language)] = [i for i in items if i.strip()]
    return out


_CATEGORY_KEYS = {"label", "flagged", "examples", "keywords", "threshold"}


def _parse_category(key: str, spec: object, name: str) -> Category:
    if not isinstance(spec, Mapping):
        raise CategoryConfigError(f"{name}: category {key!r} must be a mapping")
    unknown = set(spec) - _CATEGORY_KEYS
    if unknown:
        raise CategoryConfigError(f"{name}: category {key!r}: unknown key(s) {sorted(unknown)}")
    examples = _per_language(spec.get("examples") or {}, name, f"{key}.examples")
    keywords = _per_language(spec.get("keywords") or {}, name, f"{key}.keywords")
    if not any(examples.values()) and not any(keywords.values()):
        raise CategoryConfigError(f"{name}: category {key!r} needs examples or keywords")
    flagged = spec.get("flagged", False)
    if not isinstance(flagged, bool):
        raise CategoryConfigError(f"{name}: category {key!r}: flagged must be true or false")
    threshold = spec.get("threshold")
    bad_threshold = isinstance(threshold, bool) or not isinstance(threshold, int | float)
    if threshold is not None and bad_threshold:
        raise CategoryConfigError(f"{name}: category {key!r}: threshold must be a number")
    return Category(
        name=key,
        label=str(spec.get("label") or key),
        flagged=flagged,
        examples=tuple(text for texts in examples.values() for text in texts),
        threshold=float(threshold) if threshold is not None else None,
        keywords=PhraseMatcher(keywords) if any(keywords.values()) else None,
    )
