"""The chain every robustness test drives, and what it checks on the way out.

``run_all(source)`` takes a document through ``load_operation`` -> ``compile_operation`` ->
``build_manifests``; only a ``PolymagicError`` with a one-line message may stop it, and a
validation error raised for YAML text must name a line of that text. With a :class:`Reach` it
counts how far each example got (``loaded``, ``compiled``, ``manifests``), so a property test can
prove its examples reach the code it names.

Also here: the seed operations the strategies start from, the connections catalog, and the
hypothesis settings the property tests share.
"""

from __future__ import annotations

import contextlib
import os
import re
import traceback
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, Phase, note, settings
from hypothesis.control import currently_in_test_context

from polymagic.errors import PolymagicError, SpecError, YamlSyntaxError
from polymagic.render.build_objects import SecretShape
from polymagic.render.compiler import CompiledBuild, compile_operation
from polymagic.render.manifests import build_manifests
from polymagic.spec.connections import ConnectionCatalog
from polymagic.spec.loader import load_connections, load_operation
from polymagic.spec.yaml_reader import parse_yaml
from tests.reach import Reach
from tests.tiers import example_count

REPO = Path(__file__).resolve().parents[2]


# On a failure hypothesis's pytest plugin imports its patch writer, which imports libcst, which
# trips a DeprecationWarning (mypy_extensions.TypedDict); with filterwarnings=error that turns
# every falsified property into an INTERNALERROR. Import it once here, with that warning off.
with warnings.catch_warnings(), contextlib.suppress(ImportError):  # no libcst: no patch writer
    warnings.simplefilter("ignore", DeprecationWarning)
    import hypothesis.extra._patching  # noqa: F401

SEED_TEXT = """\
version: 1
kind: operation
name: build
params:
  destination: {connection: docker-connection, value: polyaxon/polyaxon-quick-start}
runPatch:
  init:
  - dockerfile: {image: "tensorflow/tensorflow:2.0.1-py3", run: ["pip3 install --no-cache-dir -U polyaxon"], langEnv: "en_US.UTF-8"}
hubRef: kaniko
"""
SEED: dict[str, Any] = yaml.safe_load(SEED_TEXT)


def with_run_patch(lines: str) -> str:
    """The seed text with ``lines`` (indented two spaces) added under ``runPatch``."""
    return SEED_TEXT.replace("runPatch:\n", "runPatch:\n" + lines)


# The seed with every part of a run a build uses filled in: mutations of it reach deeper.
RICH_SEED_TEXT = """\
version: 1.1
kind: operation
name: build
params:
  destination: {connection: docker-connection, value: polyaxon/polyaxon-quick-start}
  cache: false
  cache_ttl: 2h
runPatch:
  connections: [settings-connection]
  environment:
    labels: {team: ml}
    annotations: {owner: me}
    nodeSelector: {pool: build}
    tolerations: [{key: dedicated, operator: Exists, effect: NoSchedule}]
    serviceAccountName: builder
  container:
    args: [--verbosity=info]
    env: [{name: A, value: "1"}]
    resources: {limits: {cpu: "2", memory: 4Gi}}
  volumes: [{name: scratch, emptyDir: {}}]
  init:
  - dockerfile:
      image: "tensorflow/tensorflow:2.0.1-py3"
      env: {A: 1}
      copy: [a, [b, c]]
      run: ["pip3 install --no-cache-dir -U polyaxon"]
      langEnv: "en_US.UTF-8"
      filename: Dockerfile.dev
  - file: {content: hello, filename: notes.txt}
termination: {timeout: 600}
hubRef: kaniko
"""
RICH_SEED: dict[str, Any] = yaml.safe_load(RICH_SEED_TEXT)
CATALOG_DATA: list[dict[str, Any]] = [
    {
        "name": "docker-connection",
        "kind": "registry",
        "schema": {"url": "https://registry.example.com/org"},
        "secret": {"name": "docker-conf", "mountPath": "/kaniko/.docker"},
    },
    {
        "name": "settings-connection",
        "kind": "custom",
        "configMap": {"name": "settings"},
        "env": [{"name": "B", "value": "2"}],
    },
]
CATALOG = load_connections(CATALOG_DATA)

FAST = settings(
    max_examples=example_count(60),
    deadline=None,
    database=None,
    # No "explain" phase and one shrunk example per test: a failing run stays short too.
    phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
    report_multiple_bugs=False,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)
MEDIUM = settings(FAST, max_examples=example_count(120))
MANY = settings(FAST, max_examples=example_count(250))


# -- walking documents ----------------------------------------------------------------------------


def paths_of(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path in ``node``, the empty one (the root) first."""
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths_of(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += paths_of(value, (*path, index))
    return found


def set_at(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return doc


def dump(data: Any, flow: bool | None = False) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=flow, allow_unicode=True)


# -- checking what comes out ------------------------------------------------------------------

# Every character ``str.splitlines`` breaks on: a one-line message contains none of them.
_LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"


def _check_message(exc: PolymagicError) -> None:
    message = str(exc)
    assert message.strip(), f"{type(exc).__name__} has an empty message"
    assert not any(ch in message for ch in _LINE_BREAKS), (
        f"{type(exc).__name__} message is not a single line: {message!r}"
    )


def _yaml_lines(text: str) -> int:
    """How many lines PyYAML sees (it breaks on \\r\\n, \\r, \\n, NEL, LS and PS)."""
    return len(re.findall("\r\n|[\n\r\x85\u2028\u2029]", text)) + 1


def _is_path_like(text: str) -> bool:
    # load_operation reads a one-line string ending in .yaml/.yml/.json as a file path.
    return "\n" not in text and text.endswith((".yaml", ".yml", ".json"))


def _where(exc: BaseException) -> str:
    """The last few polymagic frames the exception went through."""
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if f"{os.sep}polymagic{os.sep}" in f.filename
    ]
    shown = [f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in frames[-3:]]
    return f" (at {' <- '.join(reversed(shown))})" if shown else ""


def attempt(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, PolymagicError | None]:
    """``fn(...)``'s result, or the PolymagicError it raised; any other exception fails the test."""
    try:
        return fn(*args, **kwargs), None
    except PolymagicError as exc:
        if currently_in_test_context():
            note(f"{fn.__name__} raised {type(exc).__name__}: {exc!r}")
        _check_message(exc)
        return None, exc
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # RecursionError and MemoryError included
        # Short and cheap to report: a RecursionError's own traceback runs to thousands of frames.
        raise AssertionError(
            f"{type(exc).__name__} escaped from {fn.__name__}{_where(exc)}: {str(exc)[:300]}"
        ) from None


def _empty_document(text: str) -> bool:
    try:
        return parse_yaml(text)[0] is None
    except PolymagicError:
        return False


def check_text_error(text: str, exc: PolymagicError | None) -> None:
    """A validation error for YAML text names a line of that text (a syntax error may not)."""
    if exc is None or _is_path_like(text):
        return
    if isinstance(exc, YamlSyntaxError) or isinstance(exc.__cause__, YamlSyntaxError):
        line = getattr(exc, "line", None)
        if line is not None:
            assert 1 <= line <= _yaml_lines(text), f"line {line} is not in the text: {exc!r}"
        return
    if isinstance(exc, SpecError):
        if exc.line is None:
            # Only an empty document has no line to point at.
            assert _empty_document(text), f"validation error without a line: {exc!r}"
            return
        assert 1 <= exc.line <= _yaml_lines(text), f"line {exc.line} is not in the text: {exc!r}"


def run_all(
    source: Any,
    *,
    params: Any = (),
    connections: ConnectionCatalog | None = None,
    shapes: Mapping[str, SecretShape] | None = None,
    reach: Reach | None = None,
) -> CompiledBuild | None:
    """load → compile → manifests; only PolymagicErrors may stop the chain. ``reach`` counts
    the stages this source got to."""
    loaded, error = attempt(load_operation, source)
    if isinstance(source, str):
        check_text_error(source, error)
    build: CompiledBuild | None
    build, _ = attempt(compile_operation, source, params=params, connections=connections)
    manifests = None
    if build is not None:
        manifests, _ = attempt(build_manifests, build, secret_shapes=shapes)
    if reach is not None:
        stages = [("loaded", loaded), ("compiled", build), ("manifests", manifests)]
        reach.reached_all(stage for stage, result in stages if result is not None)
    return build
