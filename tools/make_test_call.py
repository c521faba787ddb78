"""Generate further SIPREC test calls under tests/data/calls/ (synthetic espeak-ng speech),
with the layout and code of tools/make_test_audio.py (see its docstring for the files).

Usage:
    .venv/bin/python tools/make_test_call.py [--out-root DIR] [--only NAME ...]

Needs the Debian packages ``espeak-ng`` and ``sox``. Calls:

``escalation_fr``
    A French bank call in which the customer gets angrier and asks twice for a human
    ("conseiller"): the French counterpart of escalation_en, for the analyzer's end-to-end test.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT_ROOT = ROOT / "tests" / "data" / "calls"

_spec = importlib.util.spec_from_file_location(
    "make_test_audio", ROOT / "tools" / "make_test_audio.py"
)
assert _spec is not None and _spec.loader is not None
make_test_audio = importlib.util.module_from_spec(_spec)
sys.modules["make_test_audio"] = make_test_audio
_spec.loader.exec_module(make_test_audio)

Call, Turn = make_test_audio.Call, make_test_audio.Turn

# Slower than make_test_audio's 205 wpm: clearer French for a small Whisper model.
CUSTOMER_FR = replace(make_test_audio.CUSTOMER, voice="fr-fr+m3", speed=150, pitch=45)
AGENT_FR = replace(make_test_audio.AGENT, voice="fr-fr+f3", speed=150, pitch=55)

CALLS = {
    "escalation_fr": (
        (CUSTOMER_FR, AGENT_FR),
        Call(
            name="escalation_fr",
            language="fr",
            description="Appel bancaire : le client s'énerve et demande deux fois un conseiller.",
            turns=(
                Turn(AGENT_FR, "Bonjour, banque Acme, je m'appelle Claire, je vous écoute.", 0.30),
                Turn(
                    CUSTOMER_FR,
                    "On m'a débité deux fois sur ma carte et personne ne fait rien."
                    " Je veux parler à un conseiller.",
                    0.70,
                    asks_for_human=True,
                ),
                Turn(AGENT_FR, "Je comprends, je vérifie d'abord votre compte.", 0.60),
                Turn(
                    CUSTOMER_FR,
                    "Non ! C'est inadmissible ! Passez-moi un conseiller, tout de suite !",
                    0.70,
                    asks_for_human=True,
                ),
                Turn(AGENT_FR, "Bien sûr, je vous passe mon responsable.", 0.60),
            ),
            tail_s=0.40,
        ),
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-root", type=Path, default=DEFAULT_OUT_ROOT)
    parser.add_argument("--only", nargs="+", choices=sorted(CALLS))
    args = parser.parse_args(argv)
    for name, (parties, call) in CALLS.items():
        if args.only and name not in args.only:
            continue
        make_test_audio.PARTIES = parties  # build_call lays out one track per party
        out_dir = args.out_root / name
        transcript = make_test_audio.build_call(call, out_dir)
        transcript["generator"] = "tools/make_test_call.py"
        (out_dir / "transcript.json").write_text(json.dumps(transcript, indent=2) + "\n")
        size = sum(p.stat().st_size for p in out_dir.iterdir() if p.is_file())
        print(
            f"{out_dir}: {transcript['duration_ms']} ms, "
            f"{transcript['pcap']['packets']} RTP packets, {size} bytes"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
