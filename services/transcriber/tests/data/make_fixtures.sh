#!/usr/bin/env bash
# Regenerates the committed test fixtures: 8 kHz mono 16-bit WAV, like one call channel.
# Needs Debian's espeak-ng and sox. Deterministic: no dither (-D), repeatable noise (-R).
set -euo pipefail
cd "$(dirname "$0")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# EN_TEXT and FR_TEXT are repeated in test_whisper_engine.py (WER reference): keep them in sync.
EN_TEXT="Hello, thank you for calling customer support. How can I help you today?"
FR_TEXT="Je suis désolé, mais je ne comprends pas votre question."
TWO_1="I would like to check my account balance."
TWO_2="Please send me the latest invoice."

speak() {  # speak VOICE TEXT OUT [espeak options]: synthesise, then telephone format
    espeak-ng -v "$1" -s 170 "${@:4}" -w "$tmp/raw.wav" "$2"
    sox -D "$tmp/raw.wav" -r 8000 -c 1 -b 16 -e signed-integer "$3"
}

speak en-us "$EN_TEXT" en_sentence.wav
# espeak's French is hard for Whisper at 8 kHz; this text, rate and pitch stay recognisably
# French (detected "fr" by whisper-base with a wide margin).
speak fr-fr "$FR_TEXT" fr_sentence.wav -s 150 -p 30

# 1 s of digital silence, then 3 s of quiet white noise (about -50 dBFS RMS): a line with no speech.
sox -R -D -n -r 8000 -c 1 -b 16 -e signed-integer "$tmp/noise.wav" synth 3 whitenoise vol 0.005
sox -D "$tmp/noise.wav" noise.wav pad 1 0

# Two sentences with 1.2 s of silence between: the segmenter must cut in that pause.
speak en-us "$TWO_1" "$tmp/one.wav"
speak en-us "$TWO_2" "$tmp/two.wav"
sox -D -n -r 8000 -c 1 -b 16 -e signed-integer "$tmp/gap.wav" trim 0 1.2
sox -D "$tmp/one.wav" "$tmp/gap.wav" "$tmp/two.wav" two_sentences.wav

for f in en_sentence.wav fr_sentence.wav noise.wav two_sentences.wav; do
    printf '%s %ss\n' "$f" "$(soxi -D "$f")"
done
