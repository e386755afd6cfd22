"""How the build pod is wired to its connections: each connection of the run gives the
executor's container volumes and mounts (a secret or config map at its ``mountPath``, a
``volume_claim`` or ``host_path`` volume), or environment entries (a secret or config map
without a mount path, the connection's ``env``), and the names of the secrets it reads (which
preflight checks exist). Pure.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from polymagic.errors import SpecError
from polymagic.render.build_objects import SecretShape
from polymagic.render.git_context import git_context

if TYPE_CHECKING:
    from polymagic.render.compiler import CompiledBuild
    from polymagic.spec.connections import Connection

__all__ = ["Wiring", "connection_wiring", "dns_label"]

_DNS_INVALID = re.compile(r"[^a-z0-9-]+")


def dns_label(text: str, limit: int) -> str:
    """``text`` as a DNS label of at most ``limit`` characters (``build`` when nothing is left)."""
    label = _DNS_INVALID.sub("-", text.lower()).strip("-")
    label = re.sub("-{2,}", "-", label)[:limit].strip("-")
    return label or "build"


@dataclass(frozen=True)
class Wiring:
    """What the pod gets for one source (the rendered files, a connection): volumes, mounts,
    envFrom and env entries, and the names of the secrets it reads."""

    volumes: tuple[dict[str, Any], ...] = ()
    mounts: tuple[dict[str, Any], ...] = ()
    env_from: tuple[dict[str, Any], ...] = ()
    env: tuple[dict[str, Any], ...] = ()
    secrets: tuple[str, ...] = ()

    def __add__(self, other: Wiring) -> Wiring:
        return Wiring(
            self.volumes + other.volumes,
            self.mounts + other.mounts,
            self.env_from + other.env_from,
            self.env + other.env,
            self.secrets + other.secrets,
        )


def connection_wiring(build: CompiledBuild, shapes: Mapping[str, SecretShape]) -> Wiring:
    """Volumes, mounts, envFrom and env entries for the run's connections, and secret names."""
    names = list(build.run.connections) if isinstance(build.run.connections, list) else []
    remote = git_context(build)
    if remote is not None and remote.connection is not None and remote.connection.name not in names:
        # A private repository's credentials (GIT_USERNAME / GIT_PASSWORD / GIT_TOKEN for Kaniko).
        names.append(remote.connection.name)
    wiring = Wiring()
    for name in names:
        connection = build.connections.get(name)
        if connection is None:
            continue
        wiring += _secret_wiring(connection, shapes)
        wiring += _config_map_wiring(connection)
        wiring += _volume_wiring(connection)
        wiring += Wiring(env=tuple(connection.env or []))
    return wiring


def _config_map_wiring(connection: Connection) -> Wiring:
    """A connection's ConfigMap: mounted at its ``mountPath``, else its keys as env."""
    ref = connection.config_map
    if ref is None:
        return Wiring()
    if not ref.mount_path:
        return Wiring(env_from=({"configMapRef": {"name": ref.name}},))
    volume = _volume_name(connection.name, "cm")
    source: dict[str, Any] = {"name": ref.name}
    if ref.items:
        source["items"] = [{"key": k, "path": k} for k in ref.items]
    return Wiring(
        volumes=({"name": volume, "configMap": source},),
        mounts=({"name": volume, "mountPath": ref.mount_path, "readOnly": True},),
    )


def _volume_name(connection: str, kind: str) -> str:
    # Connection names may differ only in characters a volume name cannot hold (a_b, a-b), or
    # beyond its length: a short hash of the real name keeps the volumes apart.
    digest = hashlib.sha256(connection.encode("utf-8")).hexdigest()[:8]
    return f"conn-{dns_label(connection, 40)}-{digest}-{kind}"


def _secret_wiring(connection: Connection, shapes: Mapping[str, SecretShape]) -> Wiring:
    """A connection's secret: mounted at its ``mountPath``, else its keys as env."""
    ref = connection.secret
    if ref is None:
        return Wiring()
    if not ref.mount_path:
        return Wiring(env_from=({"secretRef": {"name": ref.name}},), secrets=(ref.name,))
    source: dict[str, Any] = {"secretName": ref.name}
    if shapes.get(ref.name) is SecretShape.DOCKERCONFIGJSON:
        # Kaniko reads $DOCKER_CONFIG/config.json; a docker-registry secret names it .dockerconfigjson.
        source["items"] = [{"key": ".dockerconfigjson", "path": "config.json"}]
    elif ref.items:
        source["items"] = [{"key": k, "path": k} for k in ref.items]
    if ref.default_mode is not None:
        source["defaultMode"] = ref.default_mode
    volume = _volume_name(connection.name, "secret")
    return Wiring(
        volumes=({"name": volume, "secret": source},),
        mounts=({"name": volume, "mountPath": ref.mount_path, "readOnly": True},),
        secrets=(ref.name,),
    )


def _volume_wiring(connection: Connection) -> Wiring:
    """A ``volume_claim`` or ``host_path`` connection: its volume mounted at its ``mountPath``
    (Polyaxon's schema: ``volumeClaim`` or ``hostPath``, ``mountPath``, ``readOnly``)."""
    schema = connection.schema_ or {}
    mount_path = schema.get("mountPath")
    if connection.kind not in ("volume_claim", "host_path") or not isinstance(mount_path, str):
        return Wiring()
    if connection.kind == "volume_claim":
        source: dict[str, Any] = {"persistentVolumeClaim": {"claimName": schema.get("volumeClaim")}}
    else:
        source = {"hostPath": {"path": schema.get("hostPath")}}
    if not all(isinstance(v, str) and v for v in next(iter(source.values())).values()):
        raise SpecError(
            f"connection `{connection.name}` ({connection.kind}) needs"
            f" `schema.{'volumeClaim' if connection.kind == 'volume_claim' else 'hostPath'}`",
            path=f"connections.{connection.name}.schema",
        )
    volume = _volume_name(connection.name, "vol")
    mount = {"name": volume, "mountPath": mount_path, "readOnly": bool(schema.get("readOnly"))}
    return Wiring(volumes=({"name": volume, **source},), mounts=(mount,))
