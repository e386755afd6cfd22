"""Tests of ``freeze``: the pure decisions, and a real kernel in a throwaway venv."""
