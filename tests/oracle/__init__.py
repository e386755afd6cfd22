"""Test-side oracle: runs the real ``polyaxon==2.18.0`` package in a throwaway venv.

Only the test-suite uses this package (through a subprocess); polymagic itself never
imports polyaxon. ``harness`` manages the venv and the subprocess, ``polyaxon_side``
is the script executed by the venv's interpreter.
"""
