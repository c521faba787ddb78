"""Keyword and phrase rules: irritants, delight words, legal threats, cancellation words.

Lists live in ``data/keywords.yaml`` (one list per kind and language; new kinds need no code).
Matching is done on :func:`normalize_text` output, so case, Latin accents and punctuation never
matter, and:

* Space-delimited languages match whole words only ("sue" is not "suede"). A trailing ``*`` on a
  word of a phrase accepts any ending ("адвокат*" = адвокат, адвоката, адвокату…): Russian and
  French inflect, and listing every form is error-prone.
* CJK phrases match as substrings: Chinese has no spaces to anchor on.
* "ё" is folded to "е" on both sides: Russian STT output uses either.
* Per kind, ``exclude`` phrases are masked first ("not great" is no delight, "不满意" is not
  "满意").
* Which lists are tried: the utterance's language, plus every list written in another script
  that occurs in the text (a Chinese brand name in a French sentence). Same-script lists of
  other languages are not tried when the language is known, because they cause false hits
  ("top up" is not the French "c'est top"). Unknown/empty language: every list.
* Overlapping matches keep the longest phrase ("take you to court" wins over "court").

:class:`PhraseMatcher` is shared with the category keywords and the QA scorecard.
"""

# Phrase lists are multilingual on purpose.
# ruff: noqa: RUF001, RUF002

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import yaml

from .text import normalize_text

KEYWORDS_DATA: Traversable = resources.files("callscope_analyzer") / "data" / "keywords.yaml"

_CJK = (
    "\u2e80-\u2fdf\u3040-\u30ff\u3100-\u312f\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002ffff"
)
_CJK_RE = re.compile(f"[{_CJK}]")
_CYRILLIC_RE = re.compile("[\u0400-\u04ff]")
_LATIN_RE = re.compile("[a-z]")
# A word character that is not CJK: CJK letters touch Latin ones without spaces ("我要agent"), so
# they must not block a word boundary.
_NON_CJK_WORD = rf"[^\W{_CJK}]"


def language_key(language: str | None) -> str | None:
    """Primary subtag of a BCP-47-ish tag ("en-US", "zh_Hans" -> "en", "zh"); None if empty."""
    if not language:
        return None
    return language.strip().lower().replace("_", "-").split("-")[0] or None


def fold(text: str) -> str:
    """:func:`normalize_text` plus the folds this module adds (ё -> е)."""
    return normalize_text(text).replace("ё", "е")


def script_of(text: str) -> str:
    """ "cjk", "cyrillic", "latin" or "other": which lists a text can be matched against."""
    if _CJK_RE.search(text):
        return "cjk"
    if _CYRILLIC_RE.search(text):
        return "cyrillic"
    if _LATIN_RE.search(text):
        return "latin"
    return "other"


def _scripts_in(normalized: str) -> set[str]:
    found = set()
    if _CJK_RE.search(normalized):
        found.add("cjk")
    if _CYRILLIC_RE.search(normalized):
        found.add("cyrillic")
    if _LATIN_RE.search(normalized):
        found.add("latin")
    return found


def compile_phrase(phrase: str) -> re.Pattern[str] | None:
    """Regex for one list entry on :func:`fold` output; None if nothing is left to match."""
    parts: list[str] = []
    for token in phrase.split():
        wildcard = token.endswith("*")
        body = fold(token.rstrip("*"))
        if not body:
            continue
        escaped = re.escape(body)
        parts.append(f"{escaped}{_NON_CJK_WORD}*" if wildcard else escaped)
    if not parts:
        return None
    pattern = " ".join(parts)
    if _CJK_RE.search(fold(phrase)):
        return re.compile(pattern)  # substring: no word boundaries in Chinese
    return re.compile(rf"(?<!{_NON_CJK_WORD}){pattern}(?!{_NON_CJK_WORD})")


@dataclass(frozen=True)
class _Entry:
    phrase: str
    language: str
    pattern: re.Pattern[str]


def _mask(text: str, pattern: re.Pattern[str]) -> str:
    # Blank out instead of deleting so that later match spans stay comparable.
    return pattern.sub(lambda m: " " * len(m.group()), text)


class PhraseMatcher:
    """Phrase lists per language, matched as described in the module docstring."""

    def __init__(
        self,
        phrases: Mapping[str, Sequence[str]],
        exclusions: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self._entries: list[_Entry] = []
        self._scripts: dict[str, str] = {}
        for language, items in phrases.items():
            lang = language_key(str(language)) or str(language)
            for phrase in items:
                pattern = compile_phrase(str(phrase))
                if pattern is not None:
                    self._entries.append(_Entry(str(phrase), lang, pattern))
            # The script of a list is the one most of its phrases are written in.
            counts: dict[str, int] = {}
            for phrase in items:
                script = script_of(fold(str(phrase)))
                counts[script] = counts.get(script, 0) + 1
            if counts:
                self._scripts[lang] = max(counts, key=lambda s: counts[s])
        self._exclusions: list[tuple[str, re.Pattern[str]]] = []
        for language, items in (exclusions or {}).items():
            lang = language_key(str(language)) or str(language)
            for phrase in items:
                pattern = compile_phrase(str(phrase))
                if pattern is not None:
                    self._exclusions.append((lang, pattern))

    @property
    def languages(self) -> frozenset[str]:
        return frozenset(self._scripts)

    def _languages_for(self, language: str | None, normalized: str) -> set[str] | None:
        primary = language_key(language)
        if primary not in self._scripts:
            return None  # unknown language: try every list
        selected = {primary}
        own = self._scripts[primary]
        for script in _scripts_in(normalized) - {own}:
            selected.update(lang for lang, s in self._scripts.items() if s == script)
        return selected

    def find(self, text: str, language: str | None, *, normalized: str | None = None) -> list[str]:
        """Listed phrases found in ``text``, as written in the list, in text order, no repeats.

        Entries with a ``*`` wildcard report the matched normalised text instead.

        ``normalized`` may pass ``fold(text)`` when the caller matches several lists.
        """
        norm = fold(text) if normalized is None else normalized
        if not norm:
            return []
        allowed = self._languages_for(language, norm)
        for lang, pattern in self._exclusions:
            if allowed is None or lang in allowed:
                norm = _mask(norm, pattern)
        primary = language_key(language)
        candidates: list[tuple[int, int, int, str]] = []
        for entry in self._entries:
            if allowed is not None and entry.language not in allowed:
                continue
            priority = 0 if entry.language == primary else 1
            for match in entry.pattern.finditer(norm):
                if match.end() > match.start():
                    # A wildcard entry reports the word actually said ("адвокату", not
                    # "адвокат*"): that is what a supervisor wants to read.
                    shown = match.group() if "*" in entry.phrase else entry.phrase
                    candidates.append((match.start(), match.end(), priority, shown))
        # Longest match first, own language first, then the longer list entry.
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


class KeywordConfigError(ValueError):
    """The keyword YAML is malformed; the message names the kind and language."""


class KeywordLists:
    """All keyword kinds of a ``keywords.yaml``; :meth:`match` is what the analyzer calls."""

    def __init__(self, matchers: Mapping[str, PhraseMatcher]) -> None:
        self._matchers = dict(matchers)

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self._matchers)

    @classmethod
    def load(cls, source: Path | Traversable = KEYWORDS_DATA) -> KeywordLists:
        return cls.from_mapping(yaml.safe_load(source.read_bytes()), str(source))

    @classmethod
    def from_mapping(cls, doc: object, name: str = "keywords") -> KeywordLists:
        kinds = doc.get("kinds") if isinstance(doc, Mapping) else None
        if not isinstance(kinds, Mapping) or not kinds:
            raise KeywordConfigError(f"{name}: expected a mapping under 'kinds'")
        matchers: dict[str, PhraseMatcher] = {}
        for kind, spec in kinds.items():
            if not isinstance(spec, Mapping):
                raise KeywordConfigError(f"{name}: kind {kind!r} must be a mapping")
            unknown = set(spec) - {"terms", "exclude", "description"}
            if unknown:
                raise KeywordConfigError(f"{name}: kind {kind!r}: unknown key(s) {sorted(unknown)}")
            terms = _lists(spec.get("terms"), f"{name}: kind {kind!r} terms")
            if not terms:
                raise KeywordConfigError(f"{name}: kind {kind!r} has no terms")
            exclude = _lists(spec.get("exclude") or {}, f"{name}: kind {kind!r} exclude")
            matchers[str(kind)] = PhraseMatcher(terms, exclude)
        return cls(matchers)

    def match(self, text: str, language: str | None) -> dict[str, list[str]]:
        """Kind -> matched terms (as listed); kinds with no match are left out."""
        norm = fold(text)
        if not norm:
            return {}
        found: dict[str, list[str]] = {}
        for kind, matcher in self._matchers.items():
            terms = matcher.find(text, language, normalized=norm)
            if terms:
                found[kind] = terms
        return found


def _lists(value: object, where: str) -> dict[str, list[str]]:
    if not isinstance(value, Mapping):
        raise KeywordConfigError(f"{where}: expected a mapping of language -> list")
    out: dict[str, list[str]] = {}
    for language, items in value.items():
        if not isinstance(items, list) or not all(isinstance(i, str | int) for i in items):
            raise KeywordConfigError(f"{where}: {language!r} must be a list of strings")
        out[str(language)] = [str(i) for i in items]
    return out


@lru_cache(maxsize=1)
def default_keywords() -> KeywordLists:
    """The packaged lists, parsed once per process."""
    return KeywordLists.load()


def match_keywords(
    text: str, language: str | None, lists: KeywordLists | None = None
) -> dict[str, list[str]]:
    """Kind -> matched terms in ``text`` (e.g. ``{"legal_threat": ["avocat"]}``)."""
    return (lists or default_keywords()).match(text, language)
