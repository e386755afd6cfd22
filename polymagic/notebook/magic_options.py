"""The magic's side of the shared options: ``shared_options`` puts options declared in
``polymagic.app.arguments`` on IPython's magic parser (next to ``@argument``), and
``MagicParser`` is an argparse parser for sub-commands with options of their own
(``%polybuild freeze``) that reports a bad option as one error instead of exiting the kernel.
"""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

from IPython.core.magic_arguments import ArgDecorator

from polymagic.app.arguments import Option, OptionGroup, add_options
from polymagic.errors import UsageError

__all__ = ["MagicParser", "shared_options"]


class shared_options(ArgDecorator):  # lower case: a decorator, like IPython's `argument`
    """``@shared_options(...)``: declare these options on the magic's parser, where the
    decorator stands among the ``@argument`` lines."""

    def __init__(self, *options: Option | OptionGroup) -> None:
        self.options = options

    def add_to_parser(self, parser: Any, group: Any) -> None:
        add_options(parser, *self.options)


class MagicParser(argparse.ArgumentParser):
    """argparse that reports a bad option as one clear error instead of exiting the kernel."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")
