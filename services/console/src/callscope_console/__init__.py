"""Callscope supervisor console: a small HTTP gateway beside the analyzer."""
