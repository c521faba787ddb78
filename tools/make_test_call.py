"""Generate further SIPREC test calls under tests/data/calls/ (synthetic espeak-ng speech),
with the layout and code of tools/make_test_audio.py (see its docstring for the files).

Usage:
    .venv/bin/python tools/make_test_call.py [--out-root DIR] [--only NAME ...]

Needs the Debian packages ``espeak-ng`` and ``sox``. Calls:

``escalation_fr``
    A French bank call in which the customer gets angrier and asks twice for a human
    ("conseiller"): the French counterpart of escalation_en, for the analyzer's end-to-end test.

``escalation_en_dtmf``
    escalation_en's audio (read from its committed files, not synthesized again) with the
    agent pressing ``*1`` at 3.0 s and ``*2`` at 10.2 s on the keypad: RFC 4733
    telephone-events (payload type 101) in the agent stream in place of the audio frames they
    cover, as a phone sends them. The recorder's default DTMF digits pause and resume the
    recording there (PCI pause while the customer gives card details). ``transcript.json``
    lists the key presses under ``dtmf``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import struct
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


# RFC 4733 as a phone sends a key press: a first packet with the marker bit, progress packets
# with a growing duration (all with the event's start timestamp), then the end packet three
# times. One packet per 20 ms frame, in place of the audio of that frame.
TELEPHONE_EVENT_PT = 101
DTMF_EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}
DTMF_PROGRESS_PACKETS = 5  # 100 ms of key press
DTMF_END_REPEATS = 3
DTMF_GAP_FRAMES = 5  # 100 ms of audio between two digits of one sequence
DTMF_VOLUME = 10  # -10 dBm0

DTMF_CALLS = {
    # name: (committed call it is made from, [(at_s, digits)])
    "escalation_en_dtmf": ("escalation_en", [(3.0, "*1"), (10.2, "*2")]),
}


def key_press_packets(digits: str, first_frame: int) -> dict[int, make_test_audio.RtpOverride]:
    """Frame index -> telephone-event packet for each digit, digits DTMF_GAP_FRAMES apart."""
    packets: dict[int, make_test_audio.RtpOverride] = {}
    frame = first_frame
    for digit in digits:
        event = DTMF_EVENTS[digit]
        start_ts = frame * make_test_audio.FRAME_SAMPLES
        for n in range(DTMF_PROGRESS_PACKETS + DTMF_END_REPEATS):
            ended = n >= DTMF_PROGRESS_PACKETS
            duration = min(n + 1, DTMF_PROGRESS_PACKETS) * make_test_audio.FRAME_SAMPLES
            flags = (0x80 if ended else 0x00) | DTMF_VOLUME
            payload = struct.pack("!BBH", event, flags, duration)
            packets[frame] = make_test_audio.RtpOverride(
                TELEPHONE_EVENT_PT, n == 0, start_ts, payload
            )
            frame += 1
        frame += DTMF_GAP_FRAMES
    return packets


def build_dtmf_call(name: str, out_root: Path) -> dict:
    source_name, presses = DTMF_CALLS[name]
    source = out_root / source_name
    transcript = json.loads((source / "transcript.json").read_text())
    parties = {p.channel: p for p in make_test_audio.PARTIES}
    streams = {p: (source / f"{p.channel}.ulaw").read_bytes() for p in parties.values()}
    frame_ms = 1000 * make_test_audio.FRAME_SAMPLES // make_test_audio.SAMPLE_RATE
    agent_packets: dict[int, make_test_audio.RtpOverride] = {}
    listed = []
    for at_s, digits in presses:
        first = round(at_s * 1000 / frame_ms)
        packets = key_press_packets(digits, first)
        agent_packets.update(packets)
        listed.append(
            {
                "channel": "agent",
                "digits": digits,
                "start_ms": first * frame_ms,
                "end_ms": (max(packets) + 1) * frame_ms,
            }
        )
    out_dir = out_root / name
    out_dir.mkdir(parents=True, exist_ok=True)
    count = make_test_audio.write_pcap(
        out_dir / "call.pcap", streams, {parties["agent"]: agent_packets}
    )
    transcript.update(
        call=name,
        description=transcript["description"] + " The agent pauses the recording with *1 and"
        " resumes it with *2 on the keypad (RFC 4733).",
        dtmf=listed,
        generator="tools/make_test_call.py",
    )
    transcript["pcap"]["packets"] = count
    transcript["pcap"]["telephone_event_payload_type"] = TELEPHONE_EVENT_PT
    for channel in transcript["channels"].values():
        channel["file"] = f"../{source_name}/{channel['file']}"  # the audio is the source's
    (out_dir / "transcript.json").write_text(json.dumps(transcript, indent=2) + "\n")
    return transcript


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-root", type=Path, default=DEFAULT_OUT_ROOT)
    parser.add_argument("--only", nargs="+", choices=sorted([*CALLS, *DTMF_CALLS]))
    args = parser.parse_args(argv)
    for name in DTMF_CALLS:
        if args.only and name not in args.only:
            continue
        transcript = build_dtmf_call(name, args.out_root)
        print(f"{args.out_root / name}: {transcript['pcap']['packets']} RTP packets, with DTMF")
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
