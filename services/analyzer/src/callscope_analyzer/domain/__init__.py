"""Pure analyzer logic: text normalization, escalation rules and sentiment (no I/O wiring)."""
