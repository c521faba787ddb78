"""Text normalization for the keyword rules (the embedding model gets the raw text)."""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from callscope_core.chinese import to_simplified


@lru_cache(maxsize=4096)
def _is_latin(char: str) -> bool:
    # Unicode names are the cheapest reliable script test in the stdlib ("LATIN SMALL LETTER E").
    return unicodedata.name(char, "").startswith("LATIN")


def _is_separator(char: str) -> bool:
    # Letters, digits and combining marks carry meaning; punctuation, symbols, spaces and control
    # characters only separate words (so "l'opérateur" splits into "l operateur").
    return unicodedata.category(char)[0] not in "LNM"


def normalize_text(text: str) -> str:
    """Comparable form of a transcript: NFKC, casefolded, Latin accents removed, one space per gap,
    Chinese in Simplified characters.

    Accents are stripped only from Latin letters: STT engines and agents are inconsistent with
    "conseillère"/"conseillere", while in Cyrillic "й" or "ё" are distinct letters and must stay.
    No spaces are inserted into CJK text (Chinese has none); Traditional characters become
    Simplified, so keyword lists in either script match transcripts in either ("訂單" = "订单").
    """
    # NFKC folds compatibility forms (full-width Latin, ligatures) before casefolding ("ß" -> "ss").
    folded = to_simplified(unicodedata.normalize("NFKC", text)).casefold()
    out: list[str] = []
    base_is_latin = False
    for char in unicodedata.normalize("NFD", folded):
        if unicodedata.category(char)[0] == "M":
            if not base_is_latin:
                out.append(char)
            continue
        base_is_latin = _is_latin(char)
        out.append(" " if _is_separator(char) else char)
    # Recompose what was kept (Cyrillic "й" = "и" + breve), then collapse the separators.
    return " ".join(unicodedata.normalize("NFC", "".join(out)).split())
