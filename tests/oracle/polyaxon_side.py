"""Oracle worker: run by the ORACLE VENV's interpreter, never imported by our tests.

Owns the polyaxon side of the oracle protocol. It reads a JSON list of cases on stdin
and writes a JSON list of results (same order, same length) on stdout. Every case
yields either ``{"ok": ...}`` or ``{"error": "<message>"}``; no case crashes the batch.

Cases:

* ``{"kind": "dockerfile", "body": {...}}`` -> ``{"ok": "<rendered Dockerfile text>"}``.
  The body is validated as Polyaxon's ``V1DockerfileType`` (as the init container's
  ``polyaxon docker generate --build-context`` does) and rendered with
  ``DockerFileGenerator(...).render()``.
* ``{"kind": "compile", "op": "<operation YAML>", "params": ["name=value", ...],
  "connections": [<agent connection catalog entries>], "component": {...}}``
  -> ``{"ok": {<resolved run section, camelCase>}}``. Optional keys:
  ``"strictParams": true|false|null`` (the CLI's ``--[no-]strict-params``) and
  ``"artifactsStore": {...}`` (the agent's artifacts store connection).
  Mirrors ``polyaxon run -f op.yaml -P ...`` and then the agent-side compilation:
  ``check_polyaxonfile`` -> ``to_source_json`` (the content sent to the API) ->
  ``OperationSpecification.read`` -> ``compile_operation`` -> ``resolver.resolve``,
  with an agent whose connection catalog is ``connections``. There is no network:
  every hub reference resolves to the given ``component``.

Polyaxon is imported lazily, after stdout has been redirected to stderr, so nothing it
prints can corrupt the JSON answer.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import tempfile
import types
from collections.abc import Callable
from typing import Any

OWNER_NAME = "polymagic"
PROJECT_NAME = "oracle"
RUN_UUID = "6f1d2c3b4a5e4f60a7b8c9d0e1f2a3b4"
DEFAULT_RUN_NAME = "build"
AGENT_NAMESPACE = "polyaxon"
# A real agent always has an artifacts store; a name no catalog is likely to use.
DEFAULT_ARTIFACTS_STORE: dict[str, Any] = {
    "name": "polymagic-oracle-artifacts-store",
    "kind": "host_path",
    "schema": {
        "hostPath": "/tmp/plx/artifacts",
        "mountPath": "/tmp/plx/artifacts",
    },
}


class _HubComponent:
    """The component that every hub reference resolves to, for the case being run."""

    current: dict[str, Any] | None = None


def _error_text(exc: BaseException) -> str:
    """Polyaxon's message for ``exc``, followed by the messages of its causes."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = str(current).strip()
        if isinstance(current, SystemExit) and not text:
            text = "exited"
        # Skip a cause whose message an outer message already quotes.
        if text and not any(text in part for part in parts):
            parts.append(text)
        if current.__cause__ is not None:
            current = current.__cause__
        elif not current.__suppress_context__:
            current = current.__context__
        else:
            current = None
    if not parts:
        return type(exc).__name__
    return "\n".join(parts)


def _install_offline_hub() -> None:
    """Make Polyaxon's hub reader return the case's component instead of fetching it."""
    from polyaxon._config.spec import ConfigSpec

    def read_from_custom_hub(cls: type, hub: str) -> dict[str, Any]:
        if _HubComponent.current is None:
            raise ValueError(
                f"Component `{hub}` could not be fetched: the oracle case carries no `component`"
            )
        return copy.deepcopy(_HubComponent.current)

    def get_public_registry(cls: type) -> None:
        return None

    replacements: dict[str, Callable[..., Any]] = {
        "read_from_custom_hub": read_from_custom_hub,
        "get_public_registry": get_public_registry,
    }
    for name, function in replacements.items():
        setattr(ConfigSpec, name, classmethod(function))


def _dockerfile_generator() -> Any:
    """Polyaxon's ``DockerFileGenerator`` class.

    ``polyaxon._docker.builder``'s ``__init__`` also imports the image builder, which
    needs the optional ``docker`` SDK (the ``polyaxon[docker]`` extra). The generator
    does not, so without the SDK its module is loaded without running that
    ``__init__``.
    """
    try:
        from polyaxon._docker.builder.generator import DockerFileGenerator
    except ModuleNotFoundError as exc:
        if exc.name != "docker":
            raise
        import polyaxon._docker

        name = "polyaxon._docker.builder"
        sys.modules.pop(name, None)
        package = types.ModuleType(name)
        package.__path__ = [os.path.join(polyaxon._docker.__path__[0], "builder")]
        sys.modules[name] = package
        from polyaxon._docker.builder.generator import DockerFileGenerator
    return DockerFileGenerator


def render_dockerfile(body: Any) -> str:
    from polyaxon._schemas.types import V1DockerfileType

    generator_cls = _dockerfile_generator()
    dockerfile = V1DockerfileType.from_dict(body)
    rendered: str = generator_cls(build_context=dockerfile).render()
    return rendered


def _set_agent(connections: Any, artifacts_store: Any) -> None:
    from polyaxon import settings
    from polyaxon._schemas.agent import AgentConfig

    agent = AgentConfig(
        connections=connections,
        artifacts_store=artifacts_store,
        namespace=AGENT_NAMESPACE,
    )
    settings.set_agent_config(agent)


def compile_operation(case: dict[str, Any]) -> dict[str, Any]:
    from polyaxon._compiler.resolver import resolve
    from polyaxon._polyaxonfile import OperationSpecification, check_polyaxonfile

    op_text = case.get("op")
    if not isinstance(op_text, str):
        raise ValueError("A compile case needs `op`, the operation YAML text.")
    params = case.get("params") or []
    if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
        raise ValueError("`params` must be a list of `name=value` strings.")
    strict_params = case.get("strictParams")
    if strict_params is not None and not isinstance(strict_params, bool):
        raise ValueError("`strictParams` must be true, false or null.")
    component = case.get("component")
    _HubComponent.current = copy.deepcopy(component) if component else None
    _set_agent(
        connections=copy.deepcopy(case.get("connections") or []),
        artifacts_store=copy.deepcopy(case.get("artifactsStore") or DEFAULT_ARTIFACTS_STORE),
    )

    with tempfile.TemporaryDirectory(prefix="polymagic-oracle-") as tmp:
        path = os.path.join(tmp, "op.yaml")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(op_text)
        # `polyaxon run -f op.yaml -P ... [--strict-params|--no-strict-params]`
        # (click hands over the -P values; none at all is falsy).
        op_spec = check_polyaxonfile(
            polyaxonfile=path,
            params=list(params) or None,
            strict_params=strict_params,
            is_cli=False,
            verbose=False,
        )

    # What the CLI submits, and what the agent compiles from it.
    content = op_spec.to_source_json()
    operation = OperationSpecification.read(content)
    compiled = OperationSpecification.compile_operation(operation)
    _, resolved = resolve(
        owner_name=OWNER_NAME,
        project_name=PROJECT_NAME,
        project_uuid=PROJECT_NAME,
        run_name=operation.name or DEFAULT_RUN_NAME,
        run_uuid=RUN_UUID,
        run_path=RUN_UUID,
        compiled_operation=compiled,
        params=operation.params,
    )
    run: dict[str, Any] = resolved.run.to_dict()
    return run


def run_case(case: Any) -> dict[str, Any]:
    try:
        if not isinstance(case, dict):
            raise ValueError("A case must be a JSON object.")
        kind = case.get("kind")
        result: Any
        if kind == "dockerfile":
            result = render_dockerfile(case.get("body"))
        elif kind == "compile":
            result = compile_operation(case)
        else:
            raise ValueError(f"Unknown case kind: {kind!r}")
        # Fail this case, not the batch, if the result is not plain JSON.
        return {"ok": json.loads(json.dumps(result))}
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit (Printer.error) included
        return {"error": _error_text(exc)}
    finally:
        _HubComponent.current = None


def main() -> int:
    # Keep the real stdout for the answer; anything else printed goes to stderr.
    answer = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr

    cases = json.load(sys.stdin)
    if not isinstance(cases, list):
        raise SystemExit("polyaxon_side expects a JSON list of cases on stdin")
    _install_offline_hub()
    results = [run_case(case) for case in cases]
    json.dump(results, answer)
    answer.write("\n")
    answer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
