"""The polymagic exception hierarchy: every error a user can meet.

    PolymagicError                 any polymagic failure; one clear message
     ├── SpecError                 the operation, component or params are wrong
     │    ├── YamlSyntaxError      the text is not valid YAML
     │    │    └── DuplicateKeyError   a mapping repeats a key
     │    ├── LimitError           the input or a template goes past one of polymagic's bounds
     │    ├── UnsupportedError     valid for Polyaxon, but not something polymagic can run
     │    ├── ParamError           a param is unknown, missing or has a bad value
     │    └── ConnectionsError     the connections catalog is wrong, or lacks a connection
     ├── ClusterError              talking to Kubernetes failed
     │    ├── ClusterConfigError   no kubeconfig / in-cluster config could be loaded
     │    ├── ApiError             the API server refused or failed a request
     │    └── PreflightError       a check before submitting found a problem
     └── BuildError                the build ran but did not produce an image
          ├── BuildFailed          the executor failed, or the pod could not start
          ├── BuildTimeout         a deadline was hit
          └── BuildCancelled       the user stopped it

Errors render as one message in IPython (``_render_traceback_``) and on the command line.
This module owns the wording of those messages; it imports nothing from the rest of polymagic
but the sanitiser (``printable``), since a message may quote what a build printed.
"""

from __future__ import annotations

import unicodedata

from polymagic.printable import printable

__all__ = [
    "ApiError",
    "BuildCancelled",
    "BuildError",
    "BuildFailed",
    "BuildTimeout",
    "ClusterConfigError",
    "ClusterError",
    "ConnectionsError",
    "DuplicateKeyError",
    "LimitError",
    "ParamError",
    "PolymagicError",
    "PreflightError",
    "SpecError",
    "UnsupportedError",
    "YamlSyntaxError",
    "one_line",
]


_LINE_BREAKS = {"\x85", "\u2028", "\u2029"}


def one_line(text: str) -> str:
    """``text`` with line breaks and control characters escaped, so a message that quotes user
    input stays on one line."""
    out = []
    for char in text:
        if char in _LINE_BREAKS or unicodedata.category(char) == "Cc":
            out.append(repr(char)[1:-1])
        else:
            out.append(char)
    return "".join(out)


class PolymagicError(Exception):
    """Raised for any failure polymagic reports to a user; ``str()`` is the whole message."""

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of printing a traceback: users see the message only, with
        # whatever it quotes from a build (events, log lines) unable to drive the display.
        return [f"{type(self).__name__}: {printable(str(self), keep_newlines=True)}"]


class SpecError(PolymagicError):
    """Raised when an operation, component or init entry does not validate.

    ``path`` is the dotted field path (``runPatch.init[0].dockerfile.image``) and ``line`` the
    1-based line in the YAML source when known.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        source: str | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.source = source
        super().__init__(self._compose())

    def _compose(self) -> str:
        where = []
        if self.source:
            where.append(self.source)
        if self.line is not None:
            where.append(f"line {self.line}")
        prefix = f"{', '.join(where)}: " if where else ""
        field = f"{self.path}: " if self.path else ""
        return one_line(f"{prefix}{field}{self.message}")


class YamlSyntaxError(SpecError):
    """Raised when the document is not parseable YAML."""


class DuplicateKeyError(YamlSyntaxError):
    """Raised when a YAML mapping repeats a key (PyYAML would silently keep the last one)."""


class LimitError(SpecError):
    """Raised when an input or a template goes past one of the bounds in ``polymagic.limits``;
    the message names the bound and its value."""


class UnsupportedError(SpecError):
    """Raised for valid Polyaxon input polymagic cannot run (``urlRef``, ``dagRef``, other run kinds)."""


class ParamError(SpecError):
    """Raised when a param is unknown, required but missing, or has a value of the wrong type."""


class ConnectionsError(SpecError):
    """Raised when the connections catalog cannot be read or a connection is not in it."""


class ClusterError(PolymagicError):
    """Raised when polymagic cannot talk to Kubernetes as needed."""


class ClusterConfigError(ClusterError):
    """Raised when neither a kubeconfig nor in-cluster configuration is available."""


class ApiError(ClusterError):
    """Raised when the API server answers with an error; keeps its HTTP status and reason."""

    def __init__(
        self, message: str, *, status: int | None = None, reason: str | None = None
    ) -> None:
        self.status = status
        self.reason = reason
        super().__init__(message)


class PreflightError(ClusterError):
    """Raised when a check before submission fails (namespace, secret, permissions, size)."""


class BuildError(PolymagicError):
    """Raised when a submitted build ends without a pushed image."""


class BuildFailed(BuildError):
    """Raised when the executor exits non-zero or the pod cannot start."""


class BuildTimeout(BuildError):
    """Raised when one of the build's deadlines is hit; the message names which."""


class BuildCancelled(BuildError):
    """Raised when the user interrupts or cancels a build."""
