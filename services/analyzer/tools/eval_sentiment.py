"""Score the sentiment model on the held-out set; prints JSON.

Usage (from the repository root):

    .venv/bin/python services/analyzer/tools/eval_sentiment.py [--cache-dir DIR] [--compare]

Output: accuracy and macro-F1 per language on tests/data/sentiment_heldout.yaml, model load time
and throughput (batched, and one text per call as the analyzer scores transcripts). ``--compare``
adds the alternatives considered (class centroids, other L2 strengths) and a leave-one-language-out
run (train without language X, test on X's held-out sentences) that shows cross-language transfer.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from callscope_analyzer.domain.sentiment import (
    LABELS,
    TRAINING_DATA,
    LabelledSet,
    SentimentModel,
    evaluate,
    load_labelled,
    train_logistic_regression,
)

HELDOUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "sentiment_heldout.yaml"


def _timing(model: SentimentModel, texts: Sequence[str], load_s: float) -> dict[str, float]:
    start = time.perf_counter()
    model.score(texts)
    batched = time.perf_counter() - start
    singles = texts[:40]
    start = time.perf_counter()
    for text in singles:
        model.score([text])
    single = time.perf_counter() - start
    return {
        "load_s": round(load_s, 2),
        "batched_sentences_per_s": round(len(texts) / batched, 1),
        "single_sentences_per_s": round(len(singles) / single, 1),
    }


def _centroid_classifier(
    train_x: np.ndarray, train_y: np.ndarray, temperature: float = 0.05
) -> Callable[[np.ndarray], np.ndarray]:
    # Cosine to per-class mean direction after removing the shared component.
    mean = train_x.mean(axis=0)

    def unit(x: np.ndarray) -> np.ndarray:
        centred = x - mean
        return centred / np.linalg.norm(centred, axis=1, keepdims=True)

    centroids = unit(np.stack([train_x[train_y == c].mean(axis=0) for c in range(len(LABELS))]))
    return lambda x: (unit(x) @ centroids.T) / temperature


def _compare(model: SentimentModel, train: LabelledSet, heldout: LabelledSet) -> dict[str, object]:
    train_x = model.embed(train.texts)
    train_y = np.array([LABELS.index(label) for label in train.labels])
    test_x = model.embed(heldout.texts)
    train_lang = np.array(train.languages)

    def predictor(scores: np.ndarray) -> Callable[[Sequence[str]], list[str]]:
        return lambda _texts: [LABELS[i] for i in scores.argmax(axis=1)]

    candidates: dict[str, Callable[[np.ndarray, np.ndarray], Callable[[np.ndarray], np.ndarray]]]
    candidates = {
        "logreg_l2=0.01": lambda x, y: train_logistic_regression(x, y, l2=0.01).probabilities,
        "logreg_l2=0.03 (used)": lambda x, y: train_logistic_regression(x, y).probabilities,
        "logreg_l2=0.1": lambda x, y: train_logistic_regression(x, y, l2=0.1).probabilities,
        "logreg_l2=1.0": lambda x, y: train_logistic_regression(x, y, l2=1.0).probabilities,
        "centroids": _centroid_classifier,
    }
    out: dict[str, object] = {}
    for name, fit in candidates.items():
        full = evaluate(predictor(fit(train_x, train_y)(test_x)), heldout)
        loo: dict[str, float] = {}
        for language in dict.fromkeys(heldout.languages):
            keep = train_lang != language
            rows = [i for i, lang in enumerate(heldout.languages) if lang == language]
            subset = LabelledSet(
                tuple(heldout.texts[i] for i in rows),
                tuple(heldout.labels[i] for i in rows),
                tuple(heldout.languages[i] for i in rows),
            )
            scores = fit(train_x[keep], train_y[keep])(test_x[rows])
            loo[language] = evaluate(predictor(scores), subset)[language]["macro_f1"]
        out[name] = {
            "heldout_macro_f1": {lang: r["macro_f1"] for lang, r in full.items()},
            "leave_one_language_out_macro_f1": loo,
        }
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--heldout", type=Path, default=HELDOUT)
    parser.add_argument("--compare", action="store_true")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    model = SentimentModel.load(args.cache_dir)
    load_s = time.perf_counter() - start
    heldout = load_labelled(args.heldout)

    report: dict[str, object] = {
        "heldout": evaluate(lambda texts: [s.label for s in model.score(texts)], heldout),
        "timing": _timing(model, heldout.texts, load_s),
    }
    if args.compare:
        report["compare"] = _compare(model, load_labelled(TRAINING_DATA), heldout)
    json.dump(report, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
