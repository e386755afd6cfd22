"""Recorded API traffic of real test-cluster runs and its replay (see ``tests/replay/replay.py``)."""
