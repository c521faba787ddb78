"""Callscope retention: purposes, expiry, purge schedules, legal holds, erasure and audit."""
