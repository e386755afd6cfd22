"""The Kubernetes objects of a build: a ConfigMap with the build context and the executor Pod.

Plain dicts, ready for the API (the ``kubernetes`` client accepts dicts), so this module needs
no client import. The compiled component is never changed here; what the pod needs beyond it
(``--dockerfile``, ``--digest-file``, mounts, labels) is added to the pod only. Pure.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from polymagic._version import __version__
from polymagic.errors import SpecError, UnsupportedError
from polymagic.render.annotations import record_annotations, with_provenance
from polymagic.render.build_objects import (
    ANNOTATION_PREFIX,
    CONTEXT_ARCHIVE,
    DEFAULT_EXECUTOR_IMAGE,
    DEFAULT_TIMEOUT,
    LABEL_BUILD,
    LABEL_MANAGED_BY,
    LABEL_NAME,
    LABEL_SPEC_HASH,
    OPTION_PARAMS,
    UPSTREAM_EXECUTOR,
    BuildManifests,
    KanikoOptions,
    SecretShape,
)
from polymagic.render.compiler import ARTIFACTS_PATH, CompiledBuild
from polymagic.render.context import PackedContext
from polymagic.render.executor_args import (
    container_of,
    destinations_of,
    insecure_registries,
    option_args,
    pod_args,
    set_flag,
)
from polymagic.render.executor_flags import EXECUTOR_FLAGS, check_executor_version
from polymagic.render.kube_names import (
    CONFIGMAP_LIMIT,
    check_annotations,
    check_config_map_key,
    check_labels,
    check_namespace,
    is_config_map_key,
)
from polymagic.render.pod_spec import (
    PodEnvironment,
    executor_container,
    pod_environment,
    pod_spec,
)
from polymagic.render.pod_wiring import Wiring, connection_wiring, dns_label
from polymagic.render.quantities import check_resources
from polymagic.render.run_mounts import cache_note, run_mounts, secret_arguments
from polymagic.spec.models import Container, Environment, FileInit

__all__ = [
    "CONFIGMAP_LIMIT",
    "build_manifests",
    "build_name",
    "executor_image_for",
    "pod_name_hash_of",
    "spec_hash_of",
]


def options_from_params(build: CompiledBuild, options: KanikoOptions) -> KanikoOptions:
    """``options`` with the operation's option params added (given options win for scalars)."""
    values = {name: build.params[name].value for name in OPTION_PARAMS if name in build.params}
    if not values:
        return options
    changes: dict[str, Any] = {}
    args = values.get("build_args")
    if args is not None:
        if not isinstance(args, dict):
            raise SpecError(
                "the `build_args` param must be a mapping of NAME: value", path="params.build_args"
            )
        changes["build_args"] = (*((str(k), str(v)) for k, v in args.items()), *options.build_args)
    for name in ("tags", "insecure_registries"):
        listed = values.get(name)
        if listed is not None:
            if not isinstance(listed, list):
                raise SpecError(f"the `{name}` param must be a list", path=f"params.{name}")
            changes[name] = (*(str(v) for v in listed), *getattr(options, name))
    for name in ("target", "snapshot_mode", "cache_repo"):
        if values.get(name) is not None and getattr(options, name) is None:
            changes[name] = str(values[name])
    if values.get("reproducible") is True:
        changes["reproducible"] = True
    return dataclasses.replace(options, **changes)


def spec_hash_of(
    build: CompiledBuild,
    executor_image: str,
    options: KanikoOptions,
    context_sha256: str | None = None,
) -> str:
    """The spec hash: SHA-256 of everything that decides the image's content.

    Inputs, as canonical JSON: each rendered Dockerfile (context path, file name, text), the
    ``file`` inits, the local context archive's SHA-256 (when there is one), the build args
    (sorted), the target stage, the ``--reproducible`` and snapshot options, and the executor
    image. Not included: destinations and tags, cache settings, resources and scheduling —
    they change where the image goes or how fast it is built, not what it is.
    """
    payload = {
        "dockerfiles": [[d.context_path, d.filename, d.text] for d in build.dockerfiles],
        "files": sorted(_file_entries(build)),
        "context": context_sha256,
        "build_args": sorted(options.build_args),
        "target": options.target,
        "reproducible": options.reproducible,
        "snapshot_mode": options.snapshot_mode,
        "executor": executor_image,
    }
    # Executor options that change what the image holds (labels, compression, ...), when set.
    for item in EXECUTOR_FLAGS:
        value = getattr(options, item.field)
        if item.content and value not in (None, False, ()):
            payload[item.field] = value
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def pod_name_hash_of(build: CompiledBuild, executor_image: str, args: list[str]) -> str:
    """The pod-name hash: a SHA-256 over everything the pod runs (Dockerfiles, files, args,
    executor). Identical builds get the same pod name, so a second one finds the first instead
    of starting anew. Not the spec hash: destinations and cache settings change it too."""
    payload = {
        "dockerfiles": [[d.context_path, d.filename, d.text] for d in build.dockerfiles],
        "files": sorted(_file_entries(build)),
        "args": args,
        "executor": executor_image,
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def build_name(build: CompiledBuild, pod_name_hash: str) -> str:
    """A DNS-1123 name from the operation name and the pod-name hash (same pod, same name)."""
    return f"{dns_label(build.name, 40)}-{pod_name_hash[:10]}"


def _file_entries(build: CompiledBuild) -> list[tuple[str, str, str]]:
    entries = []
    inits = build.run.init if isinstance(build.run.init, list) else []
    dockerfiles = {d.init_index for d in build.dockerfiles}  # a `file` init can be the Dockerfile
    for index, init in enumerate(inits):
        if isinstance(init.file, FileInit) and index not in dockerfiles:
            name = init.file.filename or f"file-{index}"
            entries.append((init.path or ARTIFACTS_PATH, name, init.file.content))
    return entries


@dataclass(frozen=True)
class _ConfigMapFiles:
    """The ConfigMap's data and the volumes and mounts that put each file at its context path."""

    data: dict[str, str]
    binary_data: dict[str, str]
    wiring: Wiring


def _config_map_files(
    build: CompiledBuild, name: str, context: PackedContext | None
) -> _ConfigMapFiles:
    """Every rendered file (and the local context's archive, if any) in ConfigMap ``name``."""
    data, volumes, mounts = _context_volumes(build, name)
    binary_data: dict[str, str] = {}
    if context is not None:
        binary_data[CONTEXT_ARCHIVE] = base64.b64encode(context.data).decode("ascii")
        volumes[0]["configMap"]["items"].append({"key": CONTEXT_ARCHIVE, "path": CONTEXT_ARCHIVE})
    return _ConfigMapFiles(data, binary_data, Wiring(tuple(volumes), tuple(mounts)))


def _check_config_map_size(files: _ConfigMapFiles) -> None:
    """Refuse a ConfigMap the API server would refuse (~1 MiB of keys and values)."""
    entries = (*files.data.items(), *files.binary_data.items())
    size = sum(len(v.encode("utf-8")) + len(k) for k, v in entries)
    if size > CONFIGMAP_LIMIT:
        raise SpecError(
            f"the build context is {size} bytes, more than a ConfigMap holds (~1 MiB): "
            "keep large files out of the context (.dockerignore) or use a git or object-store context"
        )


def _context_volumes(
    build: CompiledBuild, name: str
) -> tuple[dict[str, str], list[dict[str, Any]], list[dict[str, Any]]]:
    """ConfigMap data, pod volumes and mounts that put every rendered file at its context path."""
    for dockerfile in build.dockerfiles:
        # Kaniko's --dockerfile and the mounted file's name: a ConfigMap key's rules keep both
        # within what the API server and the node's file system take.
        where = f"run.init[{dockerfile.init_index}].dockerfile.filename"
        check_config_map_key(dockerfile.filename, where)
    files: list[tuple[str, str, str]] = [
        (d.context_path, d.filename, d.text) for d in build.dockerfiles
    ]
    files += _file_entries(build)
    data: dict[str, str] = {}
    by_path: dict[str, list[dict[str, str]]] = {}
    for index, (path, filename, text) in enumerate(files):
        if "/" in filename or filename in (".", ".."):
            raise SpecError(f"`{filename}` is not a plain file name", path="filename")
        if any(item["path"] == filename for item in by_path.get(path, [])):
            raise SpecError(
                f"two init entries write `{path}/{filename}`: give one of them another `filename`"
            )
        # The file's own name when it can be a ConfigMap key; the mount's item path names it.
        key = filename if filename not in data and is_config_map_key(filename) else f"f{index}"
        data[key] = text
        by_path.setdefault(path, []).append({"key": key, "path": filename})
    volumes, mounts = [], []
    for index, (path, items) in enumerate(sorted(by_path.items())):
        volume = "build-context" if index == 0 else f"build-context-{index}"
        volumes.append({"name": volume, "configMap": {"name": name, "items": items}})
        mounts.append({"name": volume, "mountPath": path, "readOnly": True})
    return data, volumes, mounts


def _build_metadata(
    build: CompiledBuild,
    name: str,
    image: str,
    spec_hash: str,
    destinations: list[str],
    extra_labels: Mapping[str, str] | None,
) -> tuple[dict[str, str], dict[str, str]]:
    """The labels and annotations polymagic puts on both objects of a build."""
    labels = {
        LABEL_MANAGED_BY: "polymagic",
        LABEL_NAME: dns_label(build.name, 63),
        LABEL_BUILD: name,
        LABEL_SPEC_HASH: spec_hash[:32],
        **(extra_labels or {}),
    }
    annotations = {
        f"{ANNOTATION_PREFIX}operation": build.name,
        f"{ANNOTATION_PREFIX}spec-hash": spec_hash,
        f"{ANNOTATION_PREFIX}executor-image": image,
        f"{ANNOTATION_PREFIX}destinations": json.dumps(destinations),
        f"{ANNOTATION_PREFIX}version": __version__,
    }
    return labels, annotations


def _checked_metadata(
    name: str,
    namespace: str,
    labels: dict[str, str],
    annotations: dict[str, str],
    environment: PodEnvironment,
) -> dict[str, Any]:
    """The pod's metadata: the build's labels and annotations over the environment's, checked
    as the API server will check them (the operation's ``environment.labels``/``annotations``
    end up here)."""
    pod_labels = {**environment.labels, **labels}
    pod_annotations = {**environment.annotations, **annotations}
    check_labels(pod_labels, "environment.labels")
    check_annotations(pod_annotations, "environment.annotations")
    return {
        "name": name,
        "namespace": namespace,
        "labels": pod_labels,
        "annotations": pod_annotations,
    }


def _config_map(
    name: str,
    namespace: str,
    labels: dict[str, str],
    annotations: dict[str, str],
    files: _ConfigMapFiles,
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": dict(labels),
            "annotations": dict(annotations),
        },
        "data": files.data,
        **({"binaryData": files.binary_data} if files.binary_data else {}),
    }


def _buildable_container(build: CompiledBuild) -> Container:
    """The executor container of a build polymagic can run (one container, a Dockerfile)."""
    if isinstance(build.run.sidecars, list) and build.run.sidecars:
        raise UnsupportedError(
            "sidecars are not supported: the build pod must finish when the executor does",
            path="run.sidecars",
        )
    if not build.dockerfiles:
        raise SpecError(
            "the build has no Dockerfile: add a `dockerfile` init under `runPatch.init`, or a"
            " `file` init named `Dockerfile` with your own (see the README)",
            path="runPatch.init",
        )
    container = container_of(build.run)
    # An amount the API server would refuse fails here, with its field, not at submission.
    check_resources(container.resources, where="run.container.resources")
    return container


def executor_image_for(build: CompiledBuild, executor_image: str | None = None) -> str:
    """The executor image a pod of ``build`` runs, with ``executor_image`` asked for."""
    return _executor_image(_buildable_container(build), executor_image)


def _executor_image(container: Container, executor_image: str | None) -> str:
    """The image the pod runs: the one asked for, else the component's (a pinned release for
    upstream Kaniko's floating ``latest``)."""
    image = executor_image or container.image
    if not image:
        raise SpecError("the executor container has no image", path="run.container.image")
    if image == UPSTREAM_EXECUTOR and not executor_image:
        image = DEFAULT_EXECUTOR_IMAGE
    return image


def _executor_args(
    build: CompiledBuild,
    container: Container,
    options: KanikoOptions,
    spec_hash: str,
    context: PackedContext | None,
) -> tuple[list[str], list[str]]:
    """The executor's arguments in the pod, and warnings about what was adjusted."""
    args, warnings = pod_args(build, container)
    if context is not None:
        warnings += context.warnings
        # Local files travel as a reproducible tar.gz next to the Dockerfile; Kaniko unpacks it.
        archive = f"{build.dockerfiles[0].context_path.rstrip('/')}/{CONTEXT_ARCHIVE}"
        args = set_flag(args, ("-c", "--context"), f"tar://{archive}")
    mounts = run_mounts(build)
    args = [*args, *secret_arguments(build, mounts)]
    note = cache_note(build, mounts)
    warnings += [note] if note else []
    return option_args(options, args, spec_hash, insecure_registries(build)), warnings


def build_manifests(
    build: CompiledBuild,
    *,
    namespace: str = "default",
    name: str | None = None,
    executor_image: str | None = None,
    secret_shapes: Mapping[str, SecretShape] | None = None,
    extra_labels: Mapping[str, str] | None = None,
    kaniko: KanikoOptions | None = None,
    context: PackedContext | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> BuildManifests:
    """The ConfigMap and Pod that run ``build`` with the Kaniko executor in ``namespace``.

    ``timeout`` is the build's overall deadline: the pod gets it (or the operation's shorter
    ``termination.timeout``) as ``activeDeadlineSeconds``, so a build whose client died stops too.
    """
    check_namespace(namespace)
    container = _buildable_container(build)
    kaniko = options_from_params(build, kaniko or KanikoOptions())
    image = _executor_image(container, executor_image)
    spec_hash = spec_hash_of(build, image, kaniko, context.sha256 if context is not None else None)
    args, warnings = _executor_args(build, container, kaniko, spec_hash, context)
    if kaniko.provenance is not None:
        args, warnings = with_provenance(build, image, kaniko, spec_hash, args, warnings)
    check_executor_version(image, args)
    name = name or build_name(build, pod_name_hash_of(build, image, args))

    files = _config_map_files(build, name, context)
    _check_config_map_size(files)
    connections = connection_wiring(build, secret_shapes or {})
    destinations = destinations_of(args)
    labels, annotations = _build_metadata(build, name, image, spec_hash, destinations, extra_labels)
    annotations.update(record_annotations(kaniko.provenance, ANNOTATION_PREFIX))
    environment = pod_environment(
        build.run.environment if isinstance(build.run.environment, Environment) else None
    )
    wiring = files.wiring + connections
    pod_container = executor_container(container, image, args, wiring, kaniko)
    spec = pod_spec(build, environment, pod_container, wiring.volumes, kaniko, timeout)
    metadata = _checked_metadata(name, namespace, labels, annotations, environment)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}
    return BuildManifests(
        name=name,
        namespace=namespace,
        spec_hash=spec_hash,
        executor_image=image,
        config_map=_config_map(name, namespace, labels, annotations, files),
        pod=pod,
        secrets=tuple(dict.fromkeys(connections.secrets)),
        steps=tuple(build.dockerfiles[0].steps),
        destinations=tuple(destinations),
        warnings=(*warnings, *environment.warnings),
        context=context,
    )
