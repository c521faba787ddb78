"""Chinese script conversion (OpenCC): Simplified and Traditional characters.

Whisper writes Mandarin in either script, often Traditional for mainland speech ("訂單" for
"订单"), while a contact center, its keyword lists and its search queries use one script. The
transcriber converts its output to the site's script; the analyzer folds both to Simplified
before matching keywords, so a rule written in one script matches text in the other.
"""

from __future__ import annotations

from functools import cache
from typing import Literal

import opencc

ChineseScript = Literal["simplified", "traditional", "original"]
CHINESE_SCRIPTS: tuple[ChineseScript, ...] = ("simplified", "traditional", "original")
# OpenCC configurations: character and phrase tables, not a character-by-character map (e.g.
# "头发" -> "頭髮" but "发现" -> "發現").
_CONFIGS = {"simplified": "t2s", "traditional": "s2t"}


@cache
def _converter(config: str) -> opencc.OpenCC:
    return opencc.OpenCC(config)


def to_script(text: str, script: ChineseScript) -> str:
    """``text`` with its Chinese characters in ``script``; everything else is left as it is.
    "original" returns the text unchanged."""
    if script == "original" or not text:
        return text
    config = _CONFIGS.get(script)
    if config is None:
        raise ValueError(f"unknown Chinese script {script!r}: use one of {CHINESE_SCRIPTS}")
    return _converter(config).convert(text)


def to_simplified(text: str) -> str:
    return to_script(text, "simplified")
