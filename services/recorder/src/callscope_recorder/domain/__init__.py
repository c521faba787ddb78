"""Pure recorder logic: channel audio and recorded calls (no I/O wiring)."""
