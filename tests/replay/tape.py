"""Recorded API traffic: what the build code asked a real cluster and what it answered, when.

One tape is one JSON file under ``tests/fixtures/api-traffic/``: every call with its start and
end time (seconds since the first call), its arguments, and its answer or error; a watch with
each pod state it delivered and when, a log stream with each line and when. Pods and events are
stored without ``metadata.managedFields`` (the server's bookkeeping, never read).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from polymagic.errors import ApiError, ClusterError, PolymagicError
from polymagic.kube.client import WatchExpired

__all__ = ["TAPES", "Call", "Tape", "error_of", "raise_error", "slim"]

TAPES = Path(__file__).resolve().parent.parent / "fixtures" / "api-traffic"
FORMAT = 1

JsonDict = dict[str, Any]


def slim(obj: Any) -> Any:
    """A pod, an event or a list of them without ``metadata.managedFields``."""
    if isinstance(obj, list):
        return [slim(item) for item in obj]
    if isinstance(obj, dict) and isinstance(obj.get("metadata"), dict):
        metadata = {k: v for k, v in obj["metadata"].items() if k != "managedFields"}
        return {**obj, "metadata": metadata}
    return obj


def error_of(exc: BaseException) -> JsonDict:
    """An error as the tape keeps it: its class, message, and HTTP status and reason."""
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "status": getattr(exc, "status", None),
        "reason": getattr(exc, "reason", None),
    }


def raise_error(error: JsonDict) -> NoReturn:
    """Raise the recorded error again, as the client raised it."""
    kind, message = error["type"], error["message"]
    if kind == "WatchExpired":
        raise WatchExpired(message)
    if kind == "ApiError":
        raise ApiError(message, status=error.get("status"), reason=error.get("reason"))
    if kind in ("ClusterError", "ClusterConfigError"):
        raise ClusterError(message)
    raise PolymagicError(f"{kind}: {message}")


def is_transient(error: JsonDict) -> bool:
    """Connection trouble, a 5xx or a 429: the kind of answer an API server restart gives."""
    if error["type"] == "ClusterError":
        return True
    status = error.get("status")
    return error["type"] == "ApiError" and (status is None or status >= 500 or status == 429)


@dataclass
class Call:
    """One call to the cluster; ``items`` are a watch's ``[at, type, pod]``, ``lines`` a log
    stream's ``[at, line]``."""

    method: str
    at: float
    end: float | None = None
    args: list[Any] = field(default_factory=list)
    kwargs: JsonDict = field(default_factory=dict)
    result: Any = None
    error: JsonDict | None = None
    error_at: float | None = None
    items: list[list[Any]] = field(default_factory=list)
    lines: list[list[Any]] = field(default_factory=list)


@dataclass
class Tape:
    """The traffic of one scenario, and the options its build ran with."""

    scenario: str
    options: JsonDict = field(default_factory=dict)
    """The ``BuildOptions`` fields that decide how it was followed (times, tail)."""
    calls: list[Call] = field(default_factory=list)
    notes: str = ""
    keep: bool = False
    """Whether the test saves this tape when it passes (``--record-api-traffic``); not saved."""

    def save(self, path: Path) -> None:
        data = {
            "format": FORMAT,
            "scenario": self.scenario,
            "notes": self.notes,
            "options": self.options,
            "calls": [asdict(call) for call in self.calls],
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, scenario: str, directory: Path = TAPES) -> Tape:
        data = json.loads((directory / f"{scenario}.json").read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError(f"{scenario}: tape format {data.get('format')}, expected {FORMAT}")
        calls = [Call(**call) for call in data["calls"]]
        return cls(data["scenario"], data["options"], calls, data.get("notes", ""))

    def of(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]
