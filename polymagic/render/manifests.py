"""The Kubernetes objects of a build: a ConfigMap with the build context and the executor Pod.

Plain dicts, ready for the API (the ``kubernetes`` client accepts dicts), so this module needs
no client import. The compiled component is never changed here; what the pod needs beyond it
(``--dockerfile``, ``--digest-file``, mounts, labels) is added to the pod only. Pure.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from polymagic._version import __version__
from polymagic.errors import SpecError, UnsupportedError
from polymagic.render.build_objects import (
    ANNOTATION_PREFIX,
    CONTAINER_NAME,
    CONTEXT_ARCHIVE,
    DEFAULT_EXECUTOR_IMAGE,
    DEFAULT_TIMEOUT,
    DIGEST_FILE,
    EPHEMERAL_STORAGE_REQUEST,
    LABEL_BUILD,
    LABEL_MANAGED_BY,
    LABEL_NAME,
    LABEL_SPEC_HASH,
    OPTION_PARAMS,
    UPSTREAM_EXECUTOR,
    BuildManifests,
    KanikoOptions,
    SecretShape,
    hash_tag_of,
    repository_without_tag,
)
from polymagic.render.compiler import ARTIFACTS_PATH, CompiledBuild
from polymagic.render.context import PackedContext
from polymagic.render.git_context import git_context
from polymagic.render.kube_names import (
    CONFIGMAP_LIMIT,
    check_annotations,
    check_config_map_key,
    check_labels,
    check_namespace,
    is_config_map_key,
)
from polymagic.render.quantities import check_resources
from polymagic.spec.models import (
    Connection,
    Container,
    Environment,
    FileInit,
    JobRun,
)

__all__ = [
    "CONFIGMAP_LIMIT",
    "build_manifests",
    "build_name",
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
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _option_args(
    options: KanikoOptions, args: list[str], spec_hash: str, connections_insecure: list[str]
) -> list[str]:
    extra: list[str] = [f"--build-arg={k}={v}" for k, v in options.build_args]
    if options.target:
        extra.append(f"--target={options.target}")
    first = next(iter(destinations_of(args)), None)
    for tag in options.tags:
        if tag.startswith(":"):
            if first is None:
                raise SpecError(f"tag `{tag}` needs a destination to add it to", path="params.tags")
            tag = repository_without_tag(first) + tag
        extra += ["--destination", tag]
    if options.hash_tag and first is not None:
        extra += ["--destination", hash_tag_of(first, spec_hash)]
    if options.reproducible:
        extra.append("--reproducible")
    if options.snapshot_mode:
        extra.append(f"--snapshot-mode={options.snapshot_mode}")
    for registry in dict.fromkeys([*options.insecure_registries, *connections_insecure]):
        extra.append(f"--insecure-registry={registry}")
    for registry in options.skip_tls_verify_registries:
        extra.append(f"--skip-tls-verify-registry={registry}")
    if options.cache_repo:
        extra.append(f"--cache-repo={options.cache_repo}")
    return [*args, *(a for a in extra if a not in args)]


_DNS_INVALID = re.compile(r"[^a-z0-9-]+")


def _dns_label(text: str, limit: int) -> str:
    label = _DNS_INVALID.sub("-", text.lower()).strip("-")
    label = re.sub("-{2,}", "-", label)[:limit].strip("-")
    return label or "build"


def _container_of(run: JobRun) -> Container:
    if not isinstance(run.container, Container):
        raise SpecError("the run has no container: the component must define `run.container`")
    return run.container


def _pod_args(build: CompiledBuild, container: Container) -> tuple[list[str], list[str]]:
    """The executor's arguments in the pod, and warnings about what was adjusted."""
    warnings: list[str] = []
    # Polyaxon drops arguments that rendered to nothing (e.g. `{{ cache }}` when false).
    args = [a for a in container.args or [] if a]
    args, fixed = _strip_destination_scheme(args)
    if fixed:
        warnings.append(
            "the registry URL had an http(s):// scheme, which Kaniko rejects; the pod uses it without"
        )
    dockerfile = build.dockerfiles[0] if build.dockerfiles else None
    if (
        dockerfile is not None
        and dockerfile.filename != "Dockerfile"
        and not _has_flag(args, "--dockerfile", "-f")
    ):
        args.append(f"--dockerfile={dockerfile.filename}")
    context = _flag_value(args, "-c", "--context")
    remote = git_context(build)
    if remote is not None and dockerfile is not None:
        # Build from the repository; the rendered Dockerfile is read from its mount, by path.
        args = _set_flag(args, ("-c", "--context"), remote.url)
        args = [a for a in args if not a.startswith("--dockerfile=")]
        args.append(f"--dockerfile={dockerfile.context_path.rstrip('/')}/{dockerfile.filename}")
        if remote.sub_path:
            args.append(f"--context-sub-path={remote.sub_path}")
    elif (
        dockerfile is not None
        and context is not None
        and context.rstrip("/") != dockerfile.context_path.rstrip("/")
    ):
        warnings.append(
            f"the Dockerfile is written to {dockerfile.context_path} but the executor reads its context"
            f" from {context}: set the init's `path` to match, or pass -P context={dockerfile.context_path}"
        )
    if not _has_flag(args, "--digest-file"):
        args.append(f"--digest-file={DIGEST_FILE}")
    else:
        warnings.append(
            "the args already set --digest-file, so polymagic may not be able to read the pushed digest"
        )
    return args, warnings


def _set_flag(args: list[str], names: tuple[str, ...], value: str) -> list[str]:
    """``args`` with the value of the first of ``names`` replaced (or the flag added)."""
    out = list(args)
    for index, arg in enumerate(out):
        if arg in names and index + 1 < len(out):
            out[index + 1] = value
            return out
        if any(arg.startswith(f"{name}=") for name in names):
            out[index] = f"{arg.split('=', 1)[0]}={value}"
            return out
    return [*out, names[0], value]


def _flag_value(args: list[str], *names: str) -> str | None:
    """The value of the first ``-x value`` / ``--xx=value`` flag among ``names``."""
    for index, arg in enumerate(args):
        for name in names:
            if arg == name and index + 1 < len(args):
                return args[index + 1]
            if arg.startswith(f"{name}="):
                return arg.split("=", 1)[1]
    return None


def _has_flag(args: list[str], *names: str) -> bool:
    return any(a == n or a.startswith(f"{n}=") for a in args for n in names)


def _clean_registry(reference: str) -> str:
    return re.sub(r"/{2,}", "/", re.sub(r"^https?://", "", reference))


def _strip_destination_scheme(args: list[str]) -> tuple[list[str], bool]:
    out: list[str] = []
    fixed, value_next = False, False
    for arg in args:
        if value_next:
            new = _clean_registry(arg)
        elif arg.startswith(("--destination=", "-d=")):
            flag, _, value = arg.partition("=")
            new = f"{flag}={_clean_registry(value)}"
        else:
            new = arg
        fixed = fixed or new != arg
        out.append(new)
        value_next = arg in ("-d", "--destination")
    return out, fixed


def destinations_of(args: list[str]) -> list[str]:
    """Every ``-d``/``--destination`` value in executor args."""
    found, take_next = [], False
    for arg in args:
        if take_next:
            found.append(arg)
        elif arg.startswith(("--destination=", "-d=")):
            found.append(arg.split("=", 1)[1])
        take_next = arg in ("-d", "--destination")
    return found


def _insecure_registries(build: CompiledBuild) -> list[str]:
    """Registries of the run's connections whose schema says ``insecure: true``."""
    found = []
    for name in build.run.connections if isinstance(build.run.connections, list) else []:
        connection = build.connections.get(name)
        schema = (connection.schema_ or {}) if connection is not None else {}
        if schema.get("insecure") is True and schema.get("url"):
            # A connection URL is ``host[:port][/path]``: its host is the registry.
            found.append(re.sub(r"^https?://", "", str(schema["url"])).split("/", 1)[0])
    return found


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
    return f"{_dns_label(build.name, 40)}-{pod_name_hash[:10]}"


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
class _Wiring:
    """What the pod gets for one source (the rendered files, a connection): volumes, mounts,
    envFrom and env entries, and the names of the secrets it reads."""

    volumes: tuple[dict[str, Any], ...] = ()
    mounts: tuple[dict[str, Any], ...] = ()
    env_from: tuple[dict[str, Any], ...] = ()
    env: tuple[dict[str, Any], ...] = ()
    secrets: tuple[str, ...] = ()

    def __add__(self, other: _Wiring) -> _Wiring:
        return _Wiring(
            self.volumes + other.volumes,
            self.mounts + other.mounts,
            self.env_from + other.env_from,
            self.env + other.env,
            self.secrets + other.secrets,
        )


@dataclass(frozen=True)
class _ConfigMapFiles:
    """The ConfigMap's data and the volumes and mounts that put each file at its context path."""

    data: dict[str, str]
    binary_data: dict[str, str]
    wiring: _Wiring


def _config_map_files(
    build: CompiledBuild, name: str, context: PackedContext | None
) -> _ConfigMapFiles:
    """Every rendered file (and the local context's archive, if any) in ConfigMap ``name``."""
    data, volumes, mounts = _context_volumes(build, name)
    binary_data: dict[str, str] = {}
    if context is not None:
        binary_data[CONTEXT_ARCHIVE] = base64.b64encode(context.data).decode("ascii")
        volumes[0]["configMap"]["items"].append({"key": CONTEXT_ARCHIVE, "path": CONTEXT_ARCHIVE})
    return _ConfigMapFiles(data, binary_data, _Wiring(tuple(volumes), tuple(mounts)))


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


def _connection_wiring(build: CompiledBuild, shapes: Mapping[str, SecretShape]) -> _Wiring:
    """Volumes, mounts, envFrom and env entries for the run's connections, and secret names."""
    names = list(build.run.connections) if isinstance(build.run.connections, list) else []
    remote = git_context(build)
    if remote is not None and remote.connection is not None and remote.connection.name not in names:
        # A private repository's credentials (GIT_USERNAME / GIT_PASSWORD / GIT_TOKEN for Kaniko).
        names.append(remote.connection.name)
    wiring = _Wiring()
    for name in names:
        connection = build.connections.get(name)
        if connection is None:
            continue
        wiring += _secret_wiring(connection, shapes)
        wiring += _config_map_wiring(connection)
        wiring += _Wiring(env=tuple(connection.env or []))
    return wiring


def _config_map_wiring(connection: Connection) -> _Wiring:
    """A connection's ConfigMap: mounted at its ``mountPath``, else its keys as env."""
    ref = connection.config_map
    if ref is None:
        return _Wiring()
    if not ref.mount_path:
        return _Wiring(env_from=({"configMapRef": {"name": ref.name}},))
    volume = _volume_name(connection.name, "cm")
    source: dict[str, Any] = {"name": ref.name}
    if ref.items:
        source["items"] = [{"key": k, "path": k} for k in ref.items]
    return _Wiring(
        volumes=({"name": volume, "configMap": source},),
        mounts=({"name": volume, "mountPath": ref.mount_path, "readOnly": True},),
    )


def _volume_name(connection: str, kind: str) -> str:
    # Connection names may differ only in characters a volume name cannot hold (a_b, a-b), or
    # beyond its length: a short hash of the real name keeps the volumes apart.
    digest = hashlib.sha256(connection.encode("utf-8")).hexdigest()[:8]
    return f"conn-{_dns_label(connection, 40)}-{digest}-{kind}"


def _secret_wiring(connection: Connection, shapes: Mapping[str, SecretShape]) -> _Wiring:
    """A connection's secret: mounted at its ``mountPath``, else its keys as env."""
    ref = connection.secret
    if ref is None:
        return _Wiring()
    if not ref.mount_path:
        return _Wiring(env_from=({"secretRef": {"name": ref.name}},), secrets=(ref.name,))
    source: dict[str, Any] = {"secretName": ref.name}
    if shapes.get(ref.name) is SecretShape.DOCKERCONFIGJSON:
        # Kaniko reads $DOCKER_CONFIG/config.json; a docker-registry secret names it .dockerconfigjson.
        source["items"] = [{"key": ".dockerconfigjson", "path": "config.json"}]
    elif ref.items:
        source["items"] = [{"key": k, "path": k} for k in ref.items]
    if ref.default_mode is not None:
        source["defaultMode"] = ref.default_mode
    volume = _volume_name(connection.name, "secret")
    return _Wiring(
        volumes=({"name": volume, "secret": source},),
        mounts=({"name": volume, "mountPath": ref.mount_path, "readOnly": True},),
        secrets=(ref.name,),
    )


@dataclass(frozen=True)
class _PodEnvironment:
    """What the operation's ``environment`` gives the pod."""

    spec: dict[str, Any]
    """Pod spec fields, in the order they are set."""
    labels: dict[str, str]
    annotations: dict[str, str]
    warnings: tuple[str, ...] = ()


def _pod_environment(environment: Environment | None) -> _PodEnvironment:
    if environment is None:
        return _PodEnvironment({}, {}, {})
    spec: dict[str, Any] = {}
    if environment.node_selector:
        spec["nodeSelector"] = {k: str(v) for k, v in environment.node_selector.items()}
    simple: dict[str, Any] = {
        "affinity": environment.affinity,
        "tolerations": environment.tolerations,
        "nodeName": environment.node_name,
        "serviceAccountName": environment.service_account_name,
        "hostAliases": environment.host_aliases,
        "securityContext": environment.security_context,
        "hostNetwork": environment.host_network,
        "hostPID": environment.host_pid,
        "dnsPolicy": environment.dns_policy,
        "dnsConfig": environment.dns_config,
        "schedulerName": environment.scheduler_name,
        "priorityClassName": environment.priority_class_name,
        "priority": environment.priority,
    }
    spec.update((key, value) for key, value in simple.items() if value is not None)
    if environment.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": n} for n in environment.image_pull_secrets]
    warnings: tuple[str, ...] = ()
    if environment.restart_policy not in (None, "Never"):
        warnings = (
            f"environment.restartPolicy `{environment.restart_policy}` is ignored: a build pod never restarts",
        )
    labels = {k: str(v) for k, v in (environment.labels or {}).items()}
    annotations = {k: str(v) for k, v in (environment.annotations or {}).items()}
    return _PodEnvironment(spec, labels, annotations, warnings)


_CONTAINER_PASSTHROUGH = (
    "imagePullPolicy",
    "command",
    "workingDir",
    "envFrom",
    "env",
    "resources",
    "ports",
    "securityContext",
    "volumeDevices",
    "lifecycle",
)


def _env_var(item: Mapping[str, Any]) -> dict[str, Any]:
    value = item.get("value")
    if value is None or isinstance(value, str):
        return dict(item)
    return {**item, "value": str(value)}


def _active_deadline(termination_timeout: int | None, timeout: float) -> int:
    if timeout <= 0:
        raise SpecError(f"the timeout must be more than 0 seconds, got {timeout:g}", path="timeout")
    overall = math.ceil(timeout)
    return min(termination_timeout, overall) if termination_timeout else overall


def _with_scratch_space(resources: Any) -> Any:
    """``resources`` (a copy) with a scratch-space request, unless it sets ephemeral storage:
    Kaniko unpacks the base image into the container's own filesystem."""
    # A copy: these dicts may be the operation's or the caller's options.
    resources = copy.deepcopy(resources or {})
    if isinstance(resources, dict):
        requests = resources.get("requests") or {}
        limits = resources.get("limits") or {}
        if isinstance(requests, dict) and isinstance(limits, dict):
            if "ephemeral-storage" not in requests and "ephemeral-storage" not in limits:
                requests["ephemeral-storage"] = EPHEMERAL_STORAGE_REQUEST
            resources["requests"] = requests
    return resources


def _with_seccomp_default(security_context: Any) -> Any:
    """The pod's ``securityContext`` (a copy) with the runtime's default seccomp profile, unless
    it names one: Kaniko needs no extra syscalls."""
    context = copy.deepcopy(security_context or {})
    if isinstance(context, dict):
        context.setdefault("seccompProfile", {"type": "RuntimeDefault"})
    return context


def _executor_container(
    container: Container, image: str, args: list[str], wiring: _Wiring, options: KanikoOptions
) -> dict[str, Any]:
    """The pod's one container: the component's, with the executor's image and args, the
    files and connections wired in, and the options' resource amounts (which win)."""
    pod_container: dict[str, Any] = {"name": CONTAINER_NAME, "image": image, "args": args}
    source = container.to_polyaxon()
    for key in _CONTAINER_PASSTHROUGH:
        if key in source:
            pod_container[key] = source[key]
    if "command" in pod_container:
        pod_container["command"] = [c for c in pod_container["command"] if c]
    env = [*pod_container.get("env", []), *wiring.env]
    if env:
        # Polyaxon reads env values back as literals (1, True); Kubernetes only takes strings.
        pod_container["env"] = [_env_var(item) for item in env]
    if wiring.env_from:
        pod_container["envFrom"] = [*pod_container.get("envFrom", []), *wiring.env_from]
    pod_container["volumeMounts"] = [*source.get("volumeMounts", []), *wiring.mounts]
    # On failure the kubelet puts the log tail (Kaniko's error line) in the termination message.
    pod_container["terminationMessagePolicy"] = "FallbackToLogsOnError"
    resources = _with_options(pod_container.get("resources"), options.resources)
    pod_container["resources"] = _with_scratch_space(resources)
    return pod_container


def _with_options(resources: Any, overrides: Mapping[str, Any] | None) -> Any:
    """The operation's container ``resources`` (a copy) with the options' amounts over them,
    amount by amount: ``--cpu 2`` keeps the operation's memory limit."""
    resources = copy.deepcopy(resources or {})
    if not overrides:
        return resources
    if not isinstance(resources, dict):
        return copy.deepcopy(dict(overrides))
    for kind, amounts in overrides.items():
        written = resources.get(kind)
        if isinstance(written, dict) and isinstance(amounts, Mapping):
            resources[kind] = {**written, **copy.deepcopy(dict(amounts))}
        else:
            resources[kind] = copy.deepcopy(amounts)
    return resources


def _pod_spec(
    build: CompiledBuild,
    environment: _PodEnvironment,
    container: dict[str, Any],
    volumes: tuple[dict[str, Any], ...],
    options: KanikoOptions,
    timeout: float,
) -> dict[str, Any]:
    """The pod's spec: the operation's environment, then what every build pod has; node
    selector, tolerations and service account given as options win over the environment's."""
    user_volumes = build.run.volumes if isinstance(build.run.volumes, list) else []
    spec: dict[str, Any] = {
        **environment.spec,
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "containers": [container],
        "volumes": [*user_volumes, *volumes],
        "activeDeadlineSeconds": _active_deadline(build.timeout, timeout),
    }
    if options.node_selector:
        spec["nodeSelector"] = {**spec.get("nodeSelector", {}), **options.node_selector}
    if options.tolerations:
        spec["tolerations"] = [*spec.get("tolerations", []), *options.tolerations]
    if options.service_account:
        spec["serviceAccountName"] = options.service_account
    spec["securityContext"] = _with_seccomp_default(spec.get("securityContext"))
    return spec


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
        LABEL_NAME: _dns_label(build.name, 63),
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
    environment: _PodEnvironment,
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
    container = _container_of(build.run)
    # An amount the API server would refuse fails here, with its field, not at submission.
    check_resources(container.resources, where="run.container.resources")
    return container


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
    args, warnings = _pod_args(build, container)
    if context is not None:
        warnings += context.warnings
        # Local files travel as a reproducible tar.gz next to the Dockerfile; Kaniko unpacks it.
        archive = f"{build.dockerfiles[0].context_path.rstrip('/')}/{CONTEXT_ARCHIVE}"
        args = _set_flag(args, ("-c", "--context"), f"tar://{archive}")
    return _option_args(options, args, spec_hash, _insecure_registries(build)), warnings


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
    name = name or build_name(build, pod_name_hash_of(build, image, args))

    files = _config_map_files(build, name, context)
    _check_config_map_size(files)
    connections = _connection_wiring(build, secret_shapes or {})
    destinations = destinations_of(args)
    labels, annotations = _build_metadata(build, name, image, spec_hash, destinations, extra_labels)
    environment = _pod_environment(
        build.run.environment if isinstance(build.run.environment, Environment) else None
    )
    wiring = files.wiring + connections
    pod_container = _executor_container(container, image, args, wiring, kaniko)
    spec = _pod_spec(build, environment, pod_container, wiring.volumes, kaniko, timeout)
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
