"""Fixtures of the kernel tests: the freeze venv and a kernel of it."""

from tests.freeze.kernel_client import kernel, venv

__all__ = ["kernel", "venv"]
