"""Which cluster configuration a build would use, and its namespace, read without logging in.

A dry run and a real build must name the same namespace, and a dry run must stay cheap (the
``kubernetes`` package costs a new process a good part of a second), so this module reads the
kubeconfig itself, as the client does: ``$KUBECONFIG`` (a list of files, merged: the first file
that names a context or the current context wins), else ``~/.kube/config``, else the in-cluster
service account's namespace file. ``kube.client.connect`` logs in from the same files. The files
are read with the spec loader's bounds (size, nodes, depth). Imports no ``kubernetes``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polymagic.errors import ClusterConfigError, PolymagicError

__all__ = ["HOW_TO_CONFIGURE", "SERVICE_ACCOUNT_DIR", "ClusterTarget", "find_cluster_target"]

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
HOW_TO_CONFIGURE = (
    "no Kubernetes cluster is configured: set KUBECONFIG to a kubeconfig file (or create"
    " ~/.kube/config, e.g. with `kubectl config`), or run inside a pod with a service account"
)


@dataclass(frozen=True)
class ClusterTarget:
    """Where builds would go: the configuration's source and its namespace."""

    source: str
    """``kubeconfig PATH`` or ``in-cluster service account``."""
    namespace: str
    """The current context's namespace (``default`` when it names none)."""
    context: str | None = None


def _kubeconfig_paths(kubeconfig: str | Path | None) -> list[Path]:
    if kubeconfig:
        return [Path(kubeconfig)]
    candidates = [Path(p) for p in (os.environ.get("KUBECONFIG") or "").split(os.pathsep) if p]
    found = [p for p in candidates if p.is_file()]
    if found:
        return found
    default = Path.home() / ".kube" / "config"
    return [default] if default.is_file() else []


def _read(path: Path) -> dict[str, Any]:
    from polymagic.spec.yaml_reader import parse_yaml, read_spec_file

    try:
        data, _ = parse_yaml(read_spec_file(path), str(path))
    except (PolymagicError, OSError) as exc:
        raise ClusterConfigError(f"cannot use the kubeconfig {path}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ClusterConfigError(f"cannot use the kubeconfig {path}: it is not a YAML mapping")
    return data


def _context_namespace(files: list[dict[str, Any]], context: str | None) -> tuple[str | None, str]:
    current = context or next(
        (str(f["current-context"]) for f in files if f.get("current-context")), None
    )
    for data in files:
        for entry in data.get("contexts") or []:
            if isinstance(entry, dict) and entry.get("name") == current:
                body = entry.get("context") or {}
                namespace = body.get("namespace") if isinstance(body, dict) else None
                return current, str(namespace) if namespace else "default"
    return current, "default"


def find_cluster_target(
    kubeconfig: str | Path | None = None,
    context: str | None = None,
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
) -> ClusterTarget:
    """The configuration ``connect`` would log in with and its namespace; a
    ``ClusterConfigError`` saying how to configure one when there is none."""
    paths = _kubeconfig_paths(kubeconfig)
    if paths:
        name, namespace = _context_namespace([_read(p) for p in paths], context)
        return ClusterTarget(
            f"kubeconfig {os.pathsep.join(str(p) for p in paths)}", namespace, name
        )
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        try:
            text = (service_account_dir / "namespace").read_text(encoding="utf-8")[:253]
        except OSError:
            text = ""
        return ClusterTarget("in-cluster service account", text.strip() or "default")
    raise ClusterConfigError(HOW_TO_CONFIGURE)
