"""Detecting customers who ask for a human (agent, supervisor, "real person") and when to alert.

Matching rules (all on :func:`normalize_text` output, so case, Latin accents and punctuation
never matter):

* Space-delimited languages match whole words only: "reagent" is not "agent" and "management
  fees" is not "manager". The last word of a phrase may carry a simple plural or case ending of
  its language ("agents", "conseillers", "Mitarbeiterin", "оператору") because "one of your
  agents" is as much a request as "an agent". Endings that change the stem ("руководителя",
  "Vorgesetzten") are listed as phrases of their own.
* CJK phrases match as substrings: Chinese has no spaces to anchor on.
* A few idioms where the word does not mean "a person to talk to" are masked first ("travel
  agent", "human error", "人工智能" = AI, "人工费" = labour cost, "оператор связи" = carrier).
  Anything else that slips through is tolerable: an alert needs several distinct utterances
  (see :func:`decide_escalation`).
* The given language's list is tried first (it wins overlapping matches), then every other list,
  because the speech-to-text language guess can be wrong and customers code-switch ("je veux
  un agent").
* Overlapping matches keep the longest phrase: "get me a real agent" yields "real agent", not
  both "real agent" and "agent".
"""

# Phrase lists are multilingual on purpose: Cyrillic letters that look Latin are not a mistake.
# ruff: noqa: RUF001

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .text import normalize_text

HUMAN_REQUEST_PHRASES: dict[str, list[str]] = {
    "en": [
        "agent",
        "real agent",
        "live agent",
        "human",
        "real person",
        "live person",
        "manager",
        "supervisor",
        "representative",
        "operator",
        "speak to someone",
        "talk to someone",
        "speak with someone",
        "talk with someone",
    ],
    "fr": [
        "conseiller",
        "conseillère",
        "agent",
        "un humain",
        "une vraie personne",
        "une personne réelle",
        "quelqu'un de réel",
        # Bare "responsable" is mostly "vous êtes responsable de…": require a determiner.
        "le responsable",
        "un responsable",
        "votre responsable",
        "au responsable",
        "votre supérieur",
        "un supérieur",
        "superviseur",
        "opérateur",
        "opératrice",
    ],
    "ru": [
        "оператор",
        "оператора",
        "живой человек",
        "живым человеком",
        "живого человека",
        "с человеком",
        "менеджер",
        "руководитель",
        "руководителя",
        "руководителем",
        "руководителю",
        "специалист",
        "консультант",
        "старшего",  # "позовите старшего": fetch the person in charge
        "начальник",
        "начальника",
    ],
    "zh": ["人工", "转人工", "真人", "客服", "经理", "主管", "活人", "接线员"],
    "es": [
        "agente",
        "persona real",
        "con una persona",
        "un humano",
        "supervisor",
        "operador",
        "asesor",
        "encargado",
        "gerente",
    ],
    "de": [
        "Mitarbeiter",
        "echter Mensch",
        "echten Menschen",
        "mit einem Menschen",
        "Vorgesetzter",
        "Vorgesetzte",
        "Berater",
        "Kundenberater",
        "Teamleiter",
        "Supervisor",
    ],
}

# Idioms containing a request word that do not ask for a person; masked before matching.
HUMAN_REQUEST_EXCLUSIONS: dict[str, list[str]] = {
    "en": [
        "travel agent",
        "estate agent",
        "insurance agent",
        "secret agent",
        "user agent",
        "cleaning agent",
        "agent of change",
        "agents of change",
        "human error",
        "human resources",
        "human rights",
        "only human",
        "password manager",
        "mobile operator",
        "network operator",
    ],
    "fr": [
        "agent immobilier",
        "agents immobiliers",
        "agent de voyage",
        # "conseiller" is also the verb "to advise": "pouvez-vous me conseiller".
        "me conseiller",
        "vous conseiller",
        "nous conseiller",
        "te conseiller",
        "operateur mobile",
        "operateur telephonique",
    ],
    "ru": [
        "оператор связи",
        "оператора связи",
        "оператором связи",
        "сотовый оператор",
        "мобильный оператор",
        "мобильного оператора",
        "не специалист",
    ],
    "zh": ["人工智能", "人工费", "人工成本", "主管部门", "真人秀"],
    "es": ["agente de viajes", "agente inmobiliario"],
    "de": [],
}

# Simple endings allowed on the last word of a phrase (see the module docstring).
_ENDINGS: dict[str, str] = {
    "en": "s|es",
    "fr": "s|x",
    "es": "s|es",
    "de": "s|n|en|in|innen",
    "ru": "а|у|ом|е|ы|ов|ам|ами|ах",
}

_CJK = (
    "\u2e80-\u2fdf\u3040-\u30ff\u3100-\u312f\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002ffff"
)
_CJK_RE = re.compile(f"[{_CJK}]")
# A word character that is not CJK: CJK letters touch each other without spaces, so they must not
# block a Latin word boundary ("我要agent").
_NON_CJK_WORD = rf"[^\W{_CJK}]"


def _compile(phrase: str, language: str) -> re.Pattern[str]:
    norm = normalize_text(phrase)
    if _CJK_RE.search(norm):
        return re.compile(re.escape(norm))
    ending = _ENDINGS.get(language)
    suffix = f"(?:{ending})?" if ending else ""
    return re.compile(rf"(?<!{_NON_CJK_WORD}){re.escape(norm)}{suffix}(?!{_NON_CJK_WORD})")


@dataclass(frozen=True)
class _Phrase:
    phrase: str
    language: str
    pattern: re.Pattern[str]


_PHRASES: tuple[_Phrase, ...] = tuple(
    _Phrase(phrase, language, _compile(phrase, language))
    for language, phrases in HUMAN_REQUEST_PHRASES.items()
    for phrase in phrases
)
_EXCLUSIONS: tuple[re.Pattern[str], ...] = tuple(
    _compile(phrase, language)
    for language, phrases in HUMAN_REQUEST_EXCLUSIONS.items()
    for phrase in phrases
)


def _language_key(language: str | None) -> str | None:
    # STT engines report "en", "en-US", "zh_Hans"...; only the primary subtag selects a list.
    if not language:
        return None
    return language.strip().lower().replace("_", "-").split("-")[0] or None


def _mask(text: str, pattern: re.Pattern[str]) -> str:
    # Blank out instead of deleting so that the spans of later matches stay comparable.
    return pattern.sub(lambda m: " " * len(m.group()), text)


def find_human_requests(text: str, language: str | None) -> list[str]:
    """Phrases of :data:`HUMAN_REQUEST_PHRASES` asking for a human in ``text``, in text order.

    Phrases are returned as written in the list (e.g. "conseillère"), without duplicates.
    """
    normalized = normalize_text(text)
    if not normalized:
        return []
    for exclusion in _EXCLUSIONS:
        normalized = _mask(normalized, exclusion)
    primary = _language_key(language)

    # (start, end, priority, phrase); priority 0 = the utterance's own language.
    candidates: list[tuple[int, int, int, str]] = []
    for entry in _PHRASES:
        priority = 0 if entry.language == primary else 1
        for match in entry.pattern.finditer(normalized):
            candidates.append((match.start(), match.end(), priority, entry.phrase))

    # Longest match first, own language first, then the exact (unsuffixed) phrase.
    candidates.sort(key=lambda c: (c[0] - c[1], c[2], -len(c[3]), c[0]))
    taken: list[tuple[int, int, str]] = []
    for start, end, _, phrase in candidates:
        if all(end <= s or start >= e for s, e, _ in taken):
            taken.append((start, end, phrase))

    found: list[str] = []
    for _, _, phrase in sorted(taken):
        if phrase not in found:
            found.append(phrase)
    return found


@dataclass(frozen=True)
class HumanRequest:
    """A customer utterance that asked for a human."""

    utterance_key: str  # "customer:<utterance_no>": redeliveries/new versions share it
    at_ms: int  # utterance start, relative to the call
    text: str
    phrases: tuple[str, ...]


@dataclass(frozen=True)
class EscalationDecision:
    reason: str
    evidence: tuple[HumanRequest, ...]  # the utterances that crossed the threshold, in time order
    at_ms: int  # time of the utterance that crossed the threshold


def decide_escalation(
    requests: Sequence[HumanRequest], *, threshold: int = 2, window_ms: int | None = None
) -> EscalationDecision | None:
    """Alert once ``threshold`` distinct utterances asked for a human within ``window_ms``.

    ``window_ms=None`` means the whole call. The window is inclusive: two requests exactly
    ``window_ms`` apart are within it. The first point in time where the threshold is reached
    decides, so later requests never move the alert (it is raised once per call).
    """
    if threshold < 1:
        raise ValueError(f"threshold must be >= 1, got {threshold}")
    if window_ms is not None and window_ms < 0:
        raise ValueError(f"window_ms must be >= 0, got {window_ms}")

    # Redelivered or re-stored utterances must not count twice: keep each key's earliest record.
    by_key: dict[str, HumanRequest] = {}
    for request in requests:
        if not request.phrases:
            continue
        known = by_key.get(request.utterance_key)
        if known is None or request.at_ms < known.at_ms:
            by_key[request.utterance_key] = request
    ordered = sorted(by_key.values(), key=lambda r: (r.at_ms, r.utterance_key))

    first = 0
    for last, request in enumerate(ordered):
        if window_ms is not None:
            while request.at_ms - ordered[first].at_ms > window_ms:
                first += 1
        if last - first + 1 >= threshold:
            evidence = tuple(ordered[first : last + 1])
            return EscalationDecision(
                reason=_reason(evidence, window_ms), evidence=evidence, at_ms=request.at_ms
            )
    return None


def _reason(evidence: tuple[HumanRequest, ...], window_ms: int | None) -> str:
    phrases: list[str] = []
    for request in evidence:
        phrases.extend(p for p in request.phrases if p not in phrases)
    count = "once" if len(evidence) == 1 else f"{len(evidence)} times"
    within = f" within {_duration(window_ms)}" if window_ms is not None else ""
    quoted = ", ".join(f'"{p}"' for p in phrases)
    return f"Customer asked for a human {count}{within} ({quoted})"


def _duration(ms: int) -> str:
    if ms % 60_000 == 0 and ms >= 60_000:
        return f"{ms // 60_000} min"
    if ms % 1000 == 0:
        return f"{ms // 1000} s"
    return f"{ms} ms"
