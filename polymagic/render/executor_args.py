"""The executor's arguments in the build pod: the component's own (empty ones dropped, the
destination's scheme stripped, ``--dockerfile`` when the file has another name) and what
polymagic adds for its options (build args, target, tags, the spec tag, registries, cache, the
executor's own flags). Pure.
"""

from __future__ import annotations

import re

from polymagic.errors import SpecError
from polymagic.render.build_objects import (
    DIGEST_FILE,
    KanikoOptions,
    hash_tag_of,
    repository_without_tag,
)
from polymagic.render.compiler import CompiledBuild
from polymagic.render.executor_flags import EXECUTOR_FLAGS, flag_arguments
from polymagic.render.git_context import git_context
from polymagic.spec.models import Container, JobRun

__all__ = [
    "container_of",
    "destinations_of",
    "flag_value",
    "has_flag",
    "insecure_registries",
    "option_args",
    "pod_args",
    "set_flag",
]


def option_args(
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
    extra += flag_arguments({f.field: getattr(options, f.field) for f in EXECUTOR_FLAGS})
    extra += options.executor_args
    return [*args, *(a for a in extra if a not in args)]


def container_of(run: JobRun) -> Container:
    if not isinstance(run.container, Container):
        raise SpecError("the run has no container: the component must define `run.container`")
    return run.container


def pod_args(build: CompiledBuild, container: Container) -> tuple[list[str], list[str]]:
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
        and not has_flag(args, "--dockerfile", "-f")
    ):
        args.append(f"--dockerfile={dockerfile.filename}")
    context = flag_value(args, "-c", "--context")
    remote = git_context(build)
    if remote is not None and dockerfile is not None:
        # Build from the repository; the rendered Dockerfile is read from its mount, by path.
        args = set_flag(args, ("-c", "--context"), remote.url)
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
    if not has_flag(args, "--digest-file"):
        args.append(f"--digest-file={DIGEST_FILE}")
    else:
        warnings.append(
            "the args already set --digest-file, so polymagic may not be able to read the pushed digest"
        )
    return args, warnings


def set_flag(args: list[str], names: tuple[str, ...], value: str) -> list[str]:
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


def flag_value(args: list[str], *names: str) -> str | None:
    """The value of the first ``-x value`` / ``--xx=value`` flag among ``names``."""
    for index, arg in enumerate(args):
        for name in names:
            if arg == name and index + 1 < len(args):
                return args[index + 1]
            if arg.startswith(f"{name}="):
                return arg.split("=", 1)[1]
    return None


def has_flag(args: list[str], *names: str) -> bool:
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


def insecure_registries(build: CompiledBuild) -> list[str]:
    """Registries of the run's connections whose schema says ``insecure: true``."""
    found = []
    for name in build.run.connections if isinstance(build.run.connections, list) else []:
        connection = build.connections.get(name)
        schema = (connection.schema_ or {}) if connection is not None else {}
        if schema.get("insecure") is True and schema.get("url"):
            # A connection URL is ``host[:port][/path]``: its host is the registry.
            found.append(re.sub(r"^https?://", "", str(schema["url"])).split("/", 1)[0])
    return found
