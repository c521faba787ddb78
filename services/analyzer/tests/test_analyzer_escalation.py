# Multilingual test data: Cyrillic look-alikes and full-width punctuation are intended.
# ruff: noqa: RUF001

import pytest

from callscope_analyzer.domain.escalation import (
    HUMAN_REQUEST_PHRASES,
    HumanRequest,
    decide_escalation,
    find_human_requests,
)


@pytest.mark.parametrize(
    ("language", "text", "expected"),
    [
        ("en", "I want to speak to an agent.", ["agent"]),
        ("en", "No. Agent! Get me a real agent now, please.", ["agent", "real agent"]),
        ("en", "Can I talk to a HUMAN please", ["human"]),
        ("en", "Put me through to your supervisor.", ["supervisor"]),
        ("en", "Is there a real person I can speak to?", ["real person"]),
        ("en", "Can one of your managers call me back?", ["manager"]),
        ("en", "Let me speak to a representative", ["representative"]),
        ("fr", "Je veux parler à un conseiller, s'il vous plaît.", ["conseiller"]),
        ("fr", "Passez-moi une conseillère !", ["conseillère"]),
        ("fr", "passez moi une conseillere", ["conseillère"]),  # STT dropped the accent
        ("fr", "Je voudrais parler à un humain.", ["un humain"]),
        ("fr", "Je veux une vraie personne au téléphone.", ["une vraie personne"]),
        ("fr", "Je veux parler au responsable.", ["au responsable"]),
        ("fr", "Passez-moi l'opérateur", ["opérateur"]),
        ("fr", "Je veux un agent", ["agent"]),  # code-switching: the English list catches it
        ("ru", "Соедините меня с оператором.", ["оператор"]),
        ("ru", "Мне нужен оператор!", ["оператор"]),
        ("ru", "Позовите живого человека, пожалуйста.", ["живого человека"]),
        ("ru", "Хочу поговорить с живым человеком", ["живым человеком"]),
        ("ru", "Дайте мне руководителя", ["руководителя"]),
        ("ru", "Переключите на менеджера", ["менеджер"]),
        ("ru", "Позовите старшего!", ["старшего"]),
        ("zh", "我要转人工！", ["转人工"]),
        ("zh", "请帮我接真人", ["真人"]),
        ("zh", "叫你们经理来", ["经理"]),
        ("zh", "我要找你们主管。", ["主管"]),
        ("es", "Quiero hablar con un agente, por favor.", ["agente"]),
        ("es", "Necesito una persona real", ["persona real"]),
        ("es", "Páseme con su supervisor", ["supervisor"]),
        ("de", "Ich möchte mit einem Mitarbeiter sprechen.", ["Mitarbeiter"]),
        ("de", "Geben Sie mir einen echten Menschen!", ["echten Menschen"]),
        ("de", "Ich will Ihren Vorgesetzten sprechen", ["Vorgesetzte"]),
    ],
)
def test_finds_human_requests(language: str, text: str, expected: list[str]) -> None:
    assert find_human_requests(text, language) == expected


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("en", "The lab ran out of reagent."),  # substring of a word is not a match
        ("en", "Why are the management fees so high?"),  # "management" is not "manager"
        ("en", "My travel agent booked this flight."),
        ("en", "It was a human error on my side."),
        ("en", "I'm only human, I forgot to pay."),
        ("en", "Can you check my last invoice?"),
        ("fr", "Pouvez-vous me conseiller sur une offre ?"),  # verb "to advise"
        ("fr", "Vous êtes responsable de ce problème."),
        ("ru", "Мой оператор связи поменял тариф."),  # "carrier", not a person
        ("ru", "Я не специалист в этих настройках."),
        ("zh", "你们的人工智能太笨了"),  # 人工智能 = artificial intelligence
        ("zh", "人工费怎么这么贵？"),  # 人工费 = labour cost
        ("es", "Mi agente de viajes me dio este número."),
        ("de", "Ich habe eine Frage zu meiner Rechnung."),
        ("en", ""),
    ],
)
def test_ignores_non_requests(language: str, text: str) -> None:
    assert find_human_requests(text, language) == []


def test_wrong_or_missing_language_still_matches() -> None:
    # STT language detection can be wrong: every list is tried.
    assert find_human_requests("Соедините с оператором", "en") == ["оператор"]
    assert find_human_requests("我要转人工", None) == ["转人工"]
    assert find_human_requests("Get me a supervisor", "zh-CN") == ["supervisor"]
    assert find_human_requests("un conseiller svp", "fr-FR") == ["conseiller"]


def test_phrases_in_text_order_without_duplicates() -> None:
    text = "Supervisor! I said supervisor, or any manager, or a real person."
    assert find_human_requests(text, "en") == ["supervisor", "manager", "real person"]


def test_every_listed_phrase_matches_itself() -> None:
    for language, phrases in HUMAN_REQUEST_PHRASES.items():
        assert {"en", "fr", "ru", "zh", "es", "de"} <= HUMAN_REQUEST_PHRASES.keys()
        for phrase in phrases:
            assert phrase in find_human_requests(f"({phrase})", language), (language, phrase)


def _req(key: str, at_ms: int, *phrases: str, text: str = "...") -> HumanRequest:
    return HumanRequest(utterance_key=key, at_ms=at_ms, text=text, phrases=phrases or ("agent",))


def test_two_distinct_requests_raise_a_decision() -> None:
    first = _req("customer:1", 4_000, "agent", text="I want to speak to an agent.")
    second = _req(
        "customer:3", 15_000, "agent", "real agent", text="No. Agent! Get me a real agent now."
    )
    decision = decide_escalation([second, first])
    assert decision is not None
    assert decision.evidence == (first, second)  # time order
    assert decision.at_ms == 15_000
    assert decision.reason == 'Customer asked for a human 2 times ("agent", "real agent")'


def test_below_threshold_no_decision() -> None:
    assert decide_escalation([]) is None
    assert decide_escalation([_req("customer:1", 1_000)]) is None
    assert (
        decide_escalation([_req("customer:1", 1_000), _req("customer:2", 2_000)], threshold=3)
        is None
    )


def test_duplicates_of_one_utterance_count_once() -> None:
    # The same utterance redelivered (or re-stored) must not look like a second request.
    same = [_req("customer:7", 5_000), _req("customer:7", 5_000), _req("customer:7", 5_200)]
    assert decide_escalation(same) is None
    decision = decide_escalation([*same, _req("customer:9", 9_000)])
    assert decision is not None
    assert [r.utterance_key for r in decision.evidence] == ["customer:7", "customer:9"]
    assert decision.evidence[0].at_ms == 5_000


def test_threshold_crossing_time_and_evidence() -> None:
    requests = [_req(f"customer:{i}", i * 10_000) for i in range(1, 6)]
    decision = decide_escalation(requests, threshold=3)
    assert decision is not None
    assert decision.at_ms == 30_000
    assert [r.at_ms for r in decision.evidence] == [10_000, 20_000, 30_000]
    assert decision.reason.startswith("Customer asked for a human 3 times")


def test_threshold_one() -> None:
    decision = decide_escalation([_req("customer:2", 700, "human")], threshold=1)
    assert decision is not None
    assert decision.reason == 'Customer asked for a human once ("human")'


def test_window_requires_requests_close_together() -> None:
    far_apart = [_req("customer:1", 0), _req("customer:2", 120_000)]
    assert decide_escalation(far_apart, window_ms=60_000) is None
    assert decide_escalation(far_apart, window_ms=None) is not None  # whole call

    # The window slides: the 2nd and 3rd requests are close enough.
    requests = [*far_apart, _req("customer:3", 150_000, "manager")]
    decision = decide_escalation(requests, window_ms=60_000)
    assert decision is not None
    assert [r.utterance_key for r in decision.evidence] == ["customer:2", "customer:3"]
    assert decision.at_ms == 150_000
    assert decision.reason == (
        'Customer asked for a human 2 times within 1 min ("agent", "manager")'
    )


def test_window_is_inclusive() -> None:
    requests = [_req("customer:1", 0), _req("customer:2", 30_000)]
    assert decide_escalation(requests, window_ms=30_000) is not None
    assert decide_escalation(requests, window_ms=29_999) is None


def test_utterances_without_phrases_do_not_count() -> None:
    empty = HumanRequest(utterance_key="customer:4", at_ms=1_000, text="hello", phrases=())
    assert decide_escalation([empty, _req("customer:5", 2_000)]) is None


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        decide_escalation([], threshold=0)
    with pytest.raises(ValueError):
        decide_escalation([], window_ms=-1)
