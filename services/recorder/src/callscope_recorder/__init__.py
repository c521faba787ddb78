"""Callscope recorder: takes calls in (SIPREC), stores recordings, publishes call events."""
