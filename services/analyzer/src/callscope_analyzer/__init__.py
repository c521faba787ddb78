"""Callscope analyzer."""
