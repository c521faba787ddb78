# Multilingual test data: Cyrillic look-alikes and full-width punctuation are intended.
# ruff: noqa: RUF001

import re

import pytest

from callscope_analyzer.domain.keywords import (
    KeywordConfigError,
    KeywordLists,
    PhraseMatcher,
    default_keywords,
    fold,
    language_key,
    match_keywords,
)


@pytest.mark.parametrize(
    ("language", "text", "expected"),
    [
        ("fr", "C'est INADMISSIBLE, scandaleux !", {"irritant": ["inadmissible", "scandaleux"]}),
        ("fr", "Je vais appeler mon avocat.", {"legal_threat": ["avocat"]}),
        ("fr", "Je veux resilier mon contrat", {"cancellation": ["resilier"]}),  # no accent
        ("fr", "Je veux résilier", {"cancellation": ["resilier"]}),
        ("fr", "Merci beaucoup, c'est parfait", {"delight": ["merci beaucoup", "parfait"]}),
        ("en", "I'll take you to court over this.", {"legal_threat": ["take you to court"]}),
        ("en", "My LAWYER will call you.", {"legal_threat": ["lawyer"]}),
        ("en", "This is a rip-off and a waste of time", {"irritant": ["rip off", "waste of time"]}),
        ("en", "I'm so frustrated", {"irritant": ["frustrated"]}),
        ("ru", "Я подам в суд!", {"legal_threat": ["в суд"]}),
        ("ru", "Передам всё моему адвокату.", {"legal_threat": ["адвокату"]}),
        ("ru", "Отключите мне интернет.", {"cancellation": ["отключите"]}),
        ("ru", "Это безобразие", {"irritant": ["безобразие"]}),
        ("ru", "Огромное спасибо, всё отлично", {"delight": ["огромное спасибо", "отлично"]}),
        ("zh", "我要找律师", {"legal_threat": ["律师"]}),
        ("zh", "我要投诉你们！", {"legal_threat": ["投诉"]}),
        ("zh", "帮我取消这个套餐", {"cancellation": ["取消"]}),
        ("zh", "太差了，真是离谱", {"irritant": ["太差", "离谱"]}),
        ("zh", "我打了12315", {"legal_threat": ["12315"]}),
        # The same lists match a transcript in Traditional characters.
        ("zh", "我要找律師，這太離譜了", {"irritant": ["离谱"], "legal_threat": ["律师"]}),
        ("zh", "非常感謝，很專業", {"delight": ["非常感谢", "很专业"]}),
    ],
)
def test_matches_per_language(language: str, text: str, expected: dict[str, list[str]]) -> None:
    assert match_keywords(text, language) == expected


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("en", "The suede jacket arrived."),  # "sue" is a whole word only
        ("en", "Can I top up my account?"),  # French "top" is not tried on English text
        ("en", "It's not great but not terrible either."),  # negated: masked
        ("en", "We met at the food court."),
        ("fr", "Ce n'est pas terrible mais pas ridicule."),
        ("ru", "Это не ужасно."),
        ("ru", "Судьба такая."),  # "суд" is a whole word
        ("zh", "我不太满意"),  # "不满意"-style negation masks "满意" ...
        ("en", ""),
        ("en", "   ...  "),
    ],
)
def test_no_false_hits(language: str, text: str) -> None:
    found = match_keywords(text, language)
    assert "legal_threat" not in found
    assert "delight" not in found
    if language != "zh":
        assert found == {}


def test_chinese_negation_is_irritant_not_delight() -> None:
    assert match_keywords("我很不满意", "zh") == {"irritant": ["不满意"]}
    assert match_keywords("我很满意", "zh") == {"delight": ["满意"]}


def test_unknown_or_missing_language_tries_every_list() -> None:
    for language in (None, "", "xx", "und"):
        assert match_keywords("scandaleux, j'appelle mon avocat", language) == {
            "irritant": ["scandaleux"],
            "legal_threat": ["avocat"],
        }


def test_language_tags_are_reduced_to_primary_subtag() -> None:
    assert language_key("fr-CA") == "fr"
    assert language_key("zh_Hans") == "zh"
    assert language_key(" EN ") == "en"
    assert language_key("") is None
    assert match_keywords("avocat", "fr-FR") == {"legal_threat": ["avocat"]}


def test_other_scripts_in_the_text_are_matched_too() -> None:
    # A Chinese customer switching to English (or the STT language guess being wrong).
    assert match_keywords("你们太差了, terrible", "zh") == {"irritant": ["太差", "terrible"]}
    assert match_keywords("c'est 垃圾", "fr") == {"irritant": ["垃圾"]}


def test_full_width_and_case_are_normalised() -> None:
    assert match_keywords("ＬＡＷＹＥＲ！", "en") == {"legal_threat": ["lawyer"]}
    assert fold("Всё ЕЩЁ") == "все еще"


def test_phrase_matcher_longest_match_and_wildcards() -> None:
    matcher = PhraseMatcher({"en": ["court", "take you to court", "refund*"]})
    assert matcher.find("I will take you to court for refunds", "en") == [
        "take you to court",
        "refunds",
    ]
    assert matcher.find("courtesy", "en") == []


def test_new_kind_from_config_needs_no_code() -> None:
    lists = KeywordLists.from_mapping(
        {"kinds": {"competitor": {"terms": {"en": ["acme telecom"], "fr": ["acmé"]}}}}
    )
    assert lists.kinds == ("competitor",)
    assert lists.match("Acme Telecom is cheaper", "en") == {"competitor": ["acme telecom"]}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({}, "expected a mapping under 'kinds'"),
        ({"kinds": {"x": []}}, "kind 'x' must be a mapping"),
        ({"kinds": {"x": {"terms": {}}}}, "kind 'x' has no terms"),
        ({"kinds": {"x": {"terms": {"en": "lawyer"}}}}, "'en' must be a list"),
        ({"kinds": {"x": {"terms": {"en": ["a"]}, "typo": 1}}}, "unknown key(s) ['typo']"),
    ],
)
def test_bad_config_names_the_kind(doc: object, message: str) -> None:
    with pytest.raises(KeywordConfigError, match=re.escape(message)):
        KeywordLists.from_mapping(doc)


def test_packaged_lists_cover_the_required_kinds_and_languages() -> None:
    lists = default_keywords()
    assert {"irritant", "delight", "legal_threat", "cancellation"} <= set(lists.kinds)
    for kind in ("irritant", "delight", "legal_threat", "cancellation"):
        assert {"en", "fr", "ru", "zh"} <= lists._matchers[kind].languages
