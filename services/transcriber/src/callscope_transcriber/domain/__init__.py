"""Pure transcription logic: no I/O, no service wiring."""
