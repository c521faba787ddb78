"""Callscope transcriber: live speech-to-text over recorded call channels."""

from __future__ import annotations

import os

# Models load only from local directories. huggingface_hub reads this once, when faster_whisper
# first imports it, so it must be set before any module of this package imports faster_whisper.
os.environ["HF_HUB_OFFLINE"] = "1"
