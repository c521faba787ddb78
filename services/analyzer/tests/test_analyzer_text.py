# Multilingual test data: Cyrillic look-alikes and full-width punctuation are intended.
# ruff: noqa: RUF001

import pytest

from callscope_analyzer.domain.text import normalize_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Latin accents go: STT output and agents' spelling are inconsistent with them.
        ("Conseillère", "conseillere"),
        ("Opérateur, S'IL VOUS PLAÎT !", "operateur s il vous plait"),
        ("Señor, ¿dónde está?", "senor donde esta"),
        ("Tiếng Việt", "tieng viet"),
        ("Große Straße", "grosse strasse"),
        # Cyrillic letters with diacritics are letters of their own and must stay.
        ("Живой ЧЕЛОВЕК, пожалуйста!", "живой человек пожалуйста"),
        ("Йошкар-Ола, ёлка", "йошкар ола ёлка"),
        ("оператор Й", "оператор й"),
        # Chinese keeps its characters and gets no spaces; punctuation still separates.
        ("我要转人工！谢谢。", "我要转人工 谢谢"),
        ("你好，客服", "你好 客服"),
        # Traditional characters (Whisper often writes them for Mandarin) become Simplified.
        ("我想申請退款，非常感謝", "我想申请退款 非常感谢"),
        # NFKC: full-width Latin and ligatures become plain letters.
        ("ＡＧＥＮＴ ﬁle", "agent file"),
        # Whitespace and punctuation collapse to single spaces, trimmed.
        ("  real\t\nperson...  now!!! ", "real person now"),
        ("l'opérateur—vite", "l operateur vite"),
        ("", ""),
        ("?!…", ""),
    ],
)
def test_normalize_text(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_cyrillic_short_i_is_not_decomposed() -> None:
    # "й" must come back as the single precomposed letter, not "и" + combining breve.
    assert normalize_text("й") == "\u0439"
    assert normalize_text("и\u0306") == "\u0439"


def test_normalization_is_idempotent() -> None:
    text = "Je veux parler à une VRAIE personne, svp — 我要真人"
    once = normalize_text(text)
    assert normalize_text(once) == once
