"""The quick-start operation, as text: the README's example, what a new build form starts
with, and what notebooks/quick-start.yaml holds (a test keeps them identical)."""

from __future__ import annotations

__all__ = ["QUICK_START"]

QUICK_START = """\
version: 1
kind: operation
name: build
params:
  destination:
    connection: docker-connection
    value: polyaxon/polyaxon-quick-start
runPatch:
  init:
  - dockerfile:
      image: "tensorflow/tensorflow:2.0.1-py3"
      run:
      - 'pip3 install --no-cache-dir -U polyaxon'
      langEnv: 'en_US.UTF-8'
hubRef: kaniko
"""
