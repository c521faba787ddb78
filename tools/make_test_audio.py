"""Generate the committed test calls under tests/data/calls/ (synthetic speech, no recordings).

Usage:
    .venv/bin/python tools/make_test_audio.py [--out-root DIR] [--only NAME ...]

Needs the Debian packages ``espeak-ng`` (speech synthesis) and ``sox`` (resampling to 8 kHz);
numpy comes from the workspace virtualenv. Each call is a two-party contact-center dialogue
with one channel per party. For every call NAME the script writes ``DIR/NAME/``:

``customer.ulaw``, ``agent.ulaw``
    Raw G.711 mu-law, 8 kHz, mono, no header. Both files have the same length and are
    time-aligned: while one party speaks the other channel is digital silence (0xFF).
``call.pcap``
    Classic libpcap file (link type Ethernet) with two RTP/PCMU streams, 20 ms per packet
    (160 payload bytes, PT 0), paced in real time. Stream 0 is the customer (UDP destination
    port 6000, SIPREC label 1), stream 1 is the agent (port 6002, label 2). SIPp's
    ``play_pcap_audio`` shifts every destination port by the same amount so that the lowest
    one (6000) lands on the first ``m=audio`` port of the answer SDP, see tests/sipp/README.md.
``transcript.json``
    The dialogue: each turn's channel, text and approximate start_ms/end_ms (speech onset
    and offset after trimming the synthesizer's own leading/trailing silence), plus the
    total duration_ms.

The output is deterministic for a given espeak-ng/sox build: voices, speeds, pitches, gaps,
RTP SSRCs, sequence numbers and pcap timestamps are all fixed below, and sox runs without
dither. Different espeak-ng versions may synthesize slightly different audio, so regenerate
and re-commit all files together.
"""

from __future__ import annotations

import argparse
import json
import shutil
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT_ROOT = ROOT / "tests" / "data" / "calls"

SAMPLE_RATE = 8000
FRAME_SAMPLES = 160  # 20 ms of PCMU per RTP packet
PEAK_DBFS = -6.0  # every turn is peak-normalized to this level
SOX_EFFECTS = (
    "highpass",
    "200",
    "lowpass",
    "3400",
    "rate",
    "-h",
    str(SAMPLE_RATE),
    "gain",
    "-n",
    str(PEAK_DBFS),
)  # telephone band, 8 kHz, peak-normalized
TRIM_THRESHOLD = 200  # |sample| above this (int16) counts as speech when trimming
TRIM_MARGIN = 80  # samples (10 ms) kept around the detected speech

# RTP/pcap constants: fixed so that the pcap is byte-for-byte reproducible.
PCAP_EPOCH = 1_704_067_200  # 2024-01-01T00:00:00Z, start time of every pcap
SRC_MAC = bytes.fromhex("020000000001")
DST_MAC = bytes.fromhex("020000000002")
SRC_IP = bytes([192, 0, 2, 10])  # TEST-NET-1 (RFC 5737): the SRC (session border controller)
DST_IP = bytes([192, 0, 2, 20])  # the SRS (Callscope recorder)


@dataclass(frozen=True)
class Party:
    channel: str  # "customer" | "agent"
    voice: str  # espeak-ng voice (+variant)
    speed: int  # words per minute
    pitch: int  # 0..99, espeak-ng default 50
    rtp_port: int  # UDP destination port in call.pcap
    label: str  # SIPREC stream label (a=label / <label>)
    ssrc: int
    first_seq: int
    first_ts: int


CUSTOMER = Party("customer", "en+m3", 205, 45, 6000, "1", 0x43555354, 1000, 160_000)
AGENT = Party("agent", "en-us+f3", 205, 55, 6002, "2", 0x4147454E, 5000, 480_000)
PARTIES = (CUSTOMER, AGENT)


@dataclass(frozen=True)
class Turn:
    party: Party
    text: str
    gap_before_s: float  # silence before this turn (before the first turn: leading silence)
    asks_for_human: bool = False
    # Pre-rendered speech (any file sox reads) used instead of espeak-ng and the party's
    # voice settings; it goes through the same telephone-band chain and trimming.
    audio: Path | None = None


@dataclass(frozen=True)
class Call:
    name: str
    language: str
    description: str
    turns: tuple[Turn, ...]
    tail_s: float  # trailing silence after the last turn


CALLS = (
    Call(
        name="escalation_en",
        language="en",
        description="Acme Bank billing call; the customer asks for a human agent twice.",
        turns=(
            Turn(
                AGENT,
                "Thank you for calling Acme Bank, my name is Sarah, how can I help you today?",
                0.30,
            ),
            Turn(
                CUSTOMER,
                "I have been charged twice on my card and nobody fixes it. "
                "I want to speak to an agent.",
                0.70,
                asks_for_human=True,
            ),
            Turn(AGENT, "I understand, let me check your account first.", 0.60),
            Turn(CUSTOMER, "No. Agent! Get me a real agent now, please.", 0.70, True),
            Turn(AGENT, "Of course, I will transfer you to my manager.", 0.60),
        ),
        tail_s=0.40,
    ),
    Call(
        name="short_en",
        language="en",
        description="Very short billing call for fast tests.",
        turns=(
            Turn(CUSTOMER, "Hello, I need help with my bill.", 0.30),
            Turn(AGENT, "Sure, I can help.", 0.60),
        ),
        tail_s=0.40,
    ),
)


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise SystemExit(f"{tool} not found; install the Debian package '{tool}'")
    return path


def espeak(voice: str, speed: int, pitch: int, text: str, wav: Path) -> None:
    """espeak-ng's rendering of ``text`` as a wav file."""
    subprocess.run(
        [
            _require("espeak-ng"),
            "-v",
            voice,
            "-s",
            str(speed),
            "-p",
            str(pitch),
            "-w",
            str(wav),
            text,
        ],
        check=True,
    )


def synthesize(party: Party, text: str, workdir: Path, audio: Path | None = None) -> np.ndarray:
    """Speak ``text`` with the party's voice (or take the pre-rendered ``audio``); return
    trimmed int16 samples at 8 kHz."""
    wav = workdir / "tts.wav" if audio is None else audio
    raw = workdir / "tts.raw"
    if audio is None:
        espeak(party.voice, party.speed, party.pitch, text, wav)
    # -D: no dither (keeps the output deterministic); telephone band, 8 kHz, 16-bit.
    subprocess.run(
        [
            _require("sox"),
            "-D",
            "-V1",
            str(wav),
            "-t",
            "raw",
            "-e",
            "signed-integer",
            "-b",
            "16",
            "-c",
            "1",
            str(raw),
            *SOX_EFFECTS,
        ],
        check=True,
    )
    samples = np.fromfile(raw, dtype="<i2")
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > TRIM_THRESHOLD)
    if loud.size == 0:
        raise SystemExit(f"{audio or 'espeak-ng'} produced silence for {text!r}")
    start = max(int(loud[0]) - TRIM_MARGIN, 0)
    end = min(int(loud[-1]) + 1 + TRIM_MARGIN, samples.size)
    return samples[start:end].astype(np.int16)


def ulaw_encode(pcm: np.ndarray) -> bytes:
    """G.711 mu-law encoding of int16 samples (bias 0x84, clip 32635, inverted bits)."""
    x = pcm.astype(np.int32)
    sign = np.where(x < 0, 0x80, 0x00)
    mag = np.minimum(np.abs(x), 32635) + 0x84
    exponent = np.floor(np.log2(mag)).astype(np.int32) - 7  # mag >= 0x84, so 0..7
    mantissa = (mag >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def _ones_complement_sum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _checksum(data: bytes) -> int:
    return ~_ones_complement_sum(data) & 0xFFFF


@dataclass(frozen=True)
class RtpOverride:
    """A packet that is not audio (an RFC 4733 telephone-event, say) sent in place of the
    audio frame at its index: its own payload type, marker, RTP timestamp and payload."""

    payload_type: int
    marker: bool
    timestamp: int
    payload: bytes


def _frame(party: Party, index: int, payload: bytes, override: RtpOverride | None = None) -> bytes:
    """Ethernet/IPv4/UDP/RTP frame carrying one 20 ms PCMU packet of ``party`` (or the
    ``override`` packet with the same sequence number)."""
    marker = 0x80 if index == 0 else 0x00  # marker bit on the first packet; PT 0 = PCMU
    timestamp = party.first_ts + index * FRAME_SAMPLES
    if override is not None:
        marker = (0x80 if override.marker else 0x00) | override.payload_type
        timestamp, payload = party.first_ts + override.timestamp, override.payload
    rtp = (
        struct.pack(
            "!BBHII",
            0x80,
            marker,
            (party.first_seq + index) & 0xFFFF,
            timestamp & 0xFFFFFFFF,
            party.ssrc,
        )
        + payload
    )
    udp_len = 8 + len(rtp)
    pseudo = SRC_IP + DST_IP + struct.pack("!BBH", 0, 17, udp_len)
    udp_hdr = struct.pack("!HHHH", party.rtp_port, party.rtp_port, udp_len, 0)
    udp_sum = _checksum(pseudo + udp_hdr + rtp) or 0xFFFF
    udp = struct.pack("!HHHH", party.rtp_port, party.rtp_port, udp_len, udp_sum) + rtp
    ip_id = (party.first_seq + index) & 0xFFFF
    ip_hdr = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0xB8, 20 + udp_len, ip_id, 0x4000, 64, 17, 0, SRC_IP, DST_IP
    )  # DSCP EF, don't fragment, TTL 64
    ip_hdr = ip_hdr[:10] + struct.pack("!H", _checksum(ip_hdr)) + ip_hdr[12:]
    return DST_MAC + SRC_MAC + b"\x08\x00" + ip_hdr + udp


def write_pcap(
    path: Path,
    streams: dict[Party, bytes],
    overrides: dict[Party, dict[int, RtpOverride]] | None = None,
) -> int:
    """Write one RTP stream per party, interleaved in time order; return the packet count.
    `overrides`: per party, frame index -> the packet sent instead of that audio frame."""
    overrides = overrides or {}
    n_frames = {len(data) // FRAME_SAMPLES for data in streams.values()}
    if len(n_frames) != 1:
        raise ValueError("all channels must have the same length")
    frames = n_frames.pop()
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))  # DLT_EN10MB
    count = 0
    for i in range(frames):
        usec_total = i * 20_000
        ts_sec, ts_usec = PCAP_EPOCH + usec_total // 1_000_000, usec_total % 1_000_000
        for party, data in streams.items():  # same capture time, customer first
            audio = data[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES]
            frame = _frame(party, i, audio, overrides.get(party, {}).get(i))
            out += struct.pack("<IIII", ts_sec, ts_usec, len(frame), len(frame)) + frame
            count += 1
    path.write_bytes(bytes(out))
    return count


def build_call(call: Call, out_dir: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="callscope-tts-") as tmp:
        clips = [synthesize(turn.party, turn.text, Path(tmp), turn.audio) for turn in call.turns]

    cursor = 0
    placed: list[tuple[Turn, int, np.ndarray]] = []
    for turn, clip in zip(call.turns, clips, strict=True):
        cursor += round(turn.gap_before_s * SAMPLE_RATE)
        placed.append((turn, cursor, clip))
        cursor += clip.size
    total = cursor + round(call.tail_s * SAMPLE_RATE)
    total = -(-total // FRAME_SAMPLES) * FRAME_SAMPLES  # whole RTP packets

    tracks = {party: np.zeros(total, dtype=np.int16) for party in PARTIES}
    turns_json = []
    for index, (turn, start, clip) in enumerate(placed):
        tracks[turn.party][start : start + clip.size] = clip
        turns_json.append(
            {
                "index": index,
                "channel": turn.party.channel,
                "text": turn.text,
                "start_ms": round(start * 1000 / SAMPLE_RATE),
                "end_ms": round((start + clip.size) * 1000 / SAMPLE_RATE),
                "asks_for_human": turn.asks_for_human,
            }
        )

    out_dir.mkdir(parents=True, exist_ok=True)
    encoded = {party: ulaw_encode(tracks[party]) for party in PARTIES}
    for party, data in encoded.items():
        (out_dir / f"{party.channel}.ulaw").write_bytes(data)
    packets = write_pcap(out_dir / "call.pcap", encoded)

    transcript = {
        "call": call.name,
        "description": call.description,
        "language": call.language,
        "codec": "PCMU",
        "sample_rate": SAMPLE_RATE,
        "duration_ms": round(total * 1000 / SAMPLE_RATE),
        "channels": {
            party.channel: {
                "file": f"{party.channel}.ulaw",
                "voice": party.voice,
                "siprec_label": party.label,
                "pcap_udp_dst_port": party.rtp_port,
                "rtp_ssrc": party.ssrc,
            }
            for party in PARTIES
        },
        "pcap": {"file": "call.pcap", "packets": packets, "ptime_ms": 20},
        "turns": turns_json,
        "generator": "tools/make_test_audio.py",
    }
    (out_dir / "transcript.json").write_text(json.dumps(transcript, indent=2) + "\n")
    return transcript


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-root", type=Path, default=DEFAULT_OUT_ROOT)
    parser.add_argument("--only", nargs="+", choices=[c.name for c in CALLS])
    args = parser.parse_args(argv)
    for call in CALLS:
        if args.only and call.name not in args.only:
            continue
        out_dir = args.out_root / call.name
        transcript = build_call(call, out_dir)
        size = sum(p.stat().st_size for p in out_dir.iterdir() if p.is_file())
        print(
            f"{out_dir}: {transcript['duration_ms']} ms, "
            f"{transcript['pcap']['packets']} RTP packets, {size} bytes"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
