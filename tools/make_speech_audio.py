# ruff: noqa: RUF001  (the dialogues are in Russian and Chinese on purpose)
"""Generate the committed multilingual test speech under tests/data/speech/ (synthetic, espeak-ng).

Usage:
    .venv/bin/python tools/make_speech_audio.py [--out-root DIR] [--only en fr ru zh]

Needs the Debian packages ``espeak-ng`` and ``sox``. For each language LANG (en, fr, ru, zh)
it writes ``DIR/LANG/``:

``NN.flac``
    One sentence of a two-party contact-center dialogue, 16 kHz mono 16-bit (wideband).
``NN_8k.flac``
    The same sentence as a telephone line carries it: 200-3400 Hz band, 8 kHz.
``reference.json``
    The reference text of every sentence, its speaker (channel) and voice: the ground truth
    for the WER/CER figures (services/transcriber/bench/quality.py).
``call/``
    The dialogue as a SIPREC test call, like tests/data/calls (customer.ulaw, agent.ulaw,
    call.pcap with two RTP streams, transcript.json), built by tools/make_test_audio.py's code.

Deterministic for a given espeak-ng/sox build: no dither, fixed voices, speeds and gaps.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT_ROOT = ROOT / "tests" / "data" / "speech"

_spec = importlib.util.spec_from_file_location(
    "make_test_audio", ROOT / "tools" / "make_test_audio.py"
)
assert _spec is not None and _spec.loader is not None
make_test_audio = importlib.util.module_from_spec(_spec)
sys.modules["make_test_audio"] = make_test_audio
_spec.loader.exec_module(make_test_audio)

# Slower than espeak's default (175) is clearer for a small model; espeak's Mandarin is slow
# already (about 2 syllables a second at 150), so it gets a faster setting.
SPEED_WPM = {"en": 150, "fr": 150, "ru": 150, "zh": 240}
# espeak-ng voice per language; the two parties differ by pitch (customer, agent). A low pitch
# keeps espeak's French recognisable for Whisper (it misreads it badly at the default 50).
VOICES = {"en": "en-us", "fr": "fr-fr", "ru": "ru", "zh": "cmn"}
PITCH = {"en": (45, 55), "fr": (30, 40), "ru": (45, 55), "zh": (45, 55)}
# Alternating agent / customer turns, no digits (Whisper writes numbers either way).
DIALOGUES = {
    "en": (
        "Hello, thank you for calling customer support. How can I help you today?",
        "I was charged twice for my last order and I would like a refund.",
        "I am sorry to hear that. Let me check your account right away.",
        "The second payment will be returned to your card within a few days.",
        "Thank you very much, that is all I needed.",
        "You are welcome. Have a nice evening.",
    ),
    "fr": (
        "Bonjour, merci d'avoir appelé le service client. Comment puis-je vous aider?",
        "J'ai été débité deux fois pour ma dernière commande et je voudrais un remboursement.",
        "Je suis désolé. Je vais vérifier votre compte tout de suite.",
        "Le deuxième paiement sera remboursé sur votre carte dans quelques jours.",
        "Merci beaucoup, c'est tout ce dont j'avais besoin.",
        "Je vous en prie. Bonne soirée.",
    ),
    "ru": (
        "Здравствуйте, спасибо, что позвонили в службу поддержки. Чем я могу вам помочь?",
        "С меня дважды списали деньги за последний заказ, и я хочу вернуть деньги.",
        "Мне очень жаль. Сейчас я проверю ваш счёт.",
        "Второй платёж вернётся на вашу карту в течение нескольких дней.",
        "Большое спасибо, это всё, что мне было нужно.",
        "Пожалуйста. Хорошего вечера.",
    ),
    "zh": (
        "您好，感谢您致电客户服务中心。请问有什么可以帮您？",
        "我的上一个订单被扣了两次款，我想申请退款。",
        "很抱歉听到这个消息。我现在帮您查一下账户。",
        "第二笔付款会在几天内退回到您的银行卡。",
        "非常感谢，我就需要这些。",
        "不客气，祝您晚上愉快。",
    ),
}
# How many of the dialogue's turns the SIPREC call holds (keeps the committed pcaps small).
CALL_TURNS = 2


def _sox(src: Path, dst: Path, *effects: str) -> None:
    subprocess.run(
        [make_test_audio._require("sox"), "-D", "-V1", str(src), str(dst), *effects], check=True
    )


def speak(
    voice: str, speed: int, pitch: int, text: str, workdir: Path, out_wide: Path, out_8k: Path
) -> None:
    raw = workdir / "tts.wav"
    subprocess.run(
        [
            make_test_audio._require("espeak-ng"),
            "-v",
            voice,
            "-s",
            str(speed),
            "-p",
            str(pitch),
            "-w",
            str(raw),
            text,
        ],
        check=True,
    )
    # Leading/trailing synthesizer silence trimmed to 0.2 s, so clips start and end alike.
    trimmed = workdir / "trim.wav"
    _sox(
        raw,
        trimmed,
        "silence",
        "1",
        "0.02",
        "0.5%",
        "reverse",
        "silence",
        "1",
        "0.02",
        "0.5%",
        "reverse",
        "pad",
        "0.2",
        "0.2",
    )
    _sox(trimmed, out_wide, "rate", "-h", "16000", "gain", "-n", "-3")
    _sox(
        trimmed,
        out_8k,
        "highpass",
        "200",
        "lowpass",
        "3400",
        "rate",
        "-h",
        "8000",
        "gain",
        "-n",
        "-6",
    )


def build_language(lang: str, out_root: Path) -> dict:
    out_dir = out_root / lang
    out_dir.mkdir(parents=True, exist_ok=True)
    voice = VOICES[lang]
    customer_pitch, agent_pitch = PITCH[lang]
    utterances = []
    with tempfile.TemporaryDirectory(prefix="callscope-speech-") as tmp:
        for i, text in enumerate(DIALOGUES[lang], 1):
            channel, pitch = ("agent", agent_pitch) if i % 2 else ("customer", customer_pitch)
            wide, narrow = f"{i:02d}.flac", f"{i:02d}_8k.flac"
            speak(voice, SPEED_WPM[lang], pitch, text, Path(tmp), out_dir / wide, out_dir / narrow)
            utterances.append(
                {
                    "file": wide,
                    "file_8k": narrow,
                    "channel": channel,
                    "voice": f"{voice} pitch {pitch}",
                    "text": text,
                }
            )
    reference = {
        "language": lang,
        "generator": "tools/make_speech_audio.py",
        "espeak_speed_wpm": SPEED_WPM[lang],
        "utterances": utterances,
    }
    (out_dir / "reference.json").write_text(
        json.dumps(reference, ensure_ascii=False, indent=2) + "\n"
    )

    # The SIPREC call: the first turns, the parties' voices in this language.
    customer = replace(
        make_test_audio.CUSTOMER, voice=voice, speed=SPEED_WPM[lang], pitch=customer_pitch
    )
    agent = replace(make_test_audio.AGENT, voice=voice, speed=SPEED_WPM[lang], pitch=agent_pitch)
    make_test_audio.PARTIES = (customer, agent)  # build_call lays out one track per party
    call = make_test_audio.Call(
        name=f"dialogue_{lang}",
        language=lang,
        description=f"Billing call in {lang}: a double charge and a refund (synthetic speech).",
        turns=tuple(
            make_test_audio.Turn(agent if i % 2 == 0 else customer, text, 0.3 if i == 0 else 0.8)
            for i, text in enumerate(DIALOGUES[lang][:CALL_TURNS])
        ),
        tail_s=0.8,
    )
    transcript = make_test_audio.build_call(call, out_dir / "call")
    return {"language": lang, "sentences": len(utterances), "call_ms": transcript["duration_ms"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-root", type=Path, default=DEFAULT_OUT_ROOT)
    parser.add_argument("--only", nargs="+", choices=sorted(DIALOGUES))
    args = parser.parse_args(argv)
    for lang in args.only or sorted(DIALOGUES):
        summary = build_language(lang, args.out_root)
        size = sum(p.stat().st_size for p in (args.out_root / lang).rglob("*") if p.is_file())
        print(f"{args.out_root / lang}: {summary}, {size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
