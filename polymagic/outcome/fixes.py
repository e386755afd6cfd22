"""The fixes a failed build suggests: for each way a build pod fails (an executor image that
cannot be pulled, a missing Secret, an unmountable volume, an unschedulable pod, a container the
node cannot make, a registry that refuses, out of memory, an eviction, a missing base image), the
one sentence saying what to do, naming the option, the setting or the operation field that does
it. ``outcome.pod_reading`` picks the fix from what the pod says; the wording lives here.
"""

from __future__ import annotations

__all__ = [
    "SNAPSHOTS_WORTH_SAVING",
    "fix_container_config",
    "fix_container_error",
    "fix_evicted",
    "fix_executor_image",
    "fix_immutable_tag",
    "fix_manifest_unknown",
    "fix_missing_secret",
    "fix_out_of_memory",
    "fix_rate_limited",
    "fix_registry_refused",
    "fix_registry_wants_credentials",
    "fix_see_events",
    "fix_unmountable_volume",
    "fix_unschedulable",
]


def fix_executor_image(image: str) -> str:
    return (
        f"the executor image `{image}` cannot be pulled: check its name, or choose another"
        " with --executor-image / the executor_image setting (a private image also needs"
        " environment.imagePullSecrets)"
    )


def fix_missing_secret(namespace: str, secret: str) -> str:
    return (
        f"secret `{secret}` not found in namespace `{namespace}`: create it with `kubectl -n"
        f" {namespace} create secret docker-registry {secret} --docker-server=..."
        " --docker-username=... --docker-password=...`, or fix the connection's secret name"
    )


def fix_unmountable_volume() -> str:
    return (
        "a volume of the build pod cannot be mounted: check the connection's secret and configMap"
    )


def fix_see_events() -> str:
    return "see the events below"


def fix_unschedulable() -> str:
    return (
        "no node can run the build pod: check environment.nodeSelector, tolerations and the"
        " container's resources against the cluster's nodes"
    )


def _container_setting_fix(message: str) -> str | None:
    """The fix for a pod setting the node cannot run the executor with, if ``message`` (the
    kubelet's or the runtime's) names one."""
    said = message.lower()
    if "runasnonroot" in said:
        return (
            "the pod asks to run as non-root (`runAsNonRoot`), but Kaniko's executor runs as root"
            " and must: remove `runAsNonRoot` from the operation's `environment.securityContext`"
            " (and from the run container's `securityContext`)"
        )
    if "seccomp" in said:
        return (
            "the node cannot apply the seccomp profile the pod asks for: leave"
            " `seccompProfile` out of the operation's `environment.securityContext` (polymagic"
            " asks for `RuntimeDefault`) or name a profile the node has"
        )
    return None


def fix_container_config(message: str) -> str:
    """What to do when the kubelet cannot make the executor's container from the pod
    (``CreateContainerConfigError``); ``message`` is the kubelet's."""
    setting = _container_setting_fix(message)
    if setting is not None:
        return setting
    said = message.lower()
    if "secret" in said or "configmap" in said or "config map" in said:
        return (
            "the container's configuration refers to something missing (a secret or config map"
            " key): create it in the build's namespace, or fix the name the operation gives"
        )
    return (
        "the kubelet could not make the executor's container from the pod (its message is"
        " above): check the operation's `environment.securityContext` and the run container's"
        " settings"
    )


def fix_container_error(message: str) -> str:
    """What to do when the runtime fails to create the executor's container
    (``CreateContainerError``; containerd's way of saying a Localhost seccomp profile is not
    on the node)."""
    return _container_setting_fix(message) or fix_see_events()


def fix_registry_wants_credentials(host: str | None) -> str:
    where = f"`{host}`" if host else "the registry"
    return (
        f"{where} wants credentials and the build has none: give the destination's connection"
        " a `secret` holding a docker config for it"
    )


def fix_registry_refused(host: str | None, secret: str, namespace: str) -> str:
    where = f"`{host}`" if host else "the registry"
    return (
        f"{where} refused the credentials in secret `{secret}`: check the username and password"
        f" for {where} in it, e.g. recreate it with `kubectl -n {namespace} create secret"
        f" docker-registry {secret} --docker-server={host or '...'} --docker-username=..."
        " --docker-password=...`"
    )


SNAPSHOTS_WORTH_SAVING = 5
"""From this many RUN steps on, one snapshot at the end (``--single-snapshot``) saves memory
worth suggesting."""


def _less_memory(run_steps: int) -> str:
    """The executor options that make Kaniko itself use less memory."""
    single = (
        f", and `--single-snapshot` takes one snapshot instead of one per step ({run_steps} RUN"
        " steps here)"
        if run_steps >= SNAPSHOTS_WORTH_SAVING
        else ""
    )
    return f"; Kaniko itself needs less with `--compressed-caching=false`{single}"


def fix_out_of_memory(limit: str | None, more: str | None, run_steps: int = 0) -> str:
    """``limit``: the executor's memory limit as the pod states it (None: none); ``more``: an
    amount to suggest (None: no suggestion can be made from the limit); ``run_steps``: how
    many RUN steps the Dockerfile has."""
    if limit is None:
        return (
            "the executor has no memory limit, so its node ran out of memory: give it a memory"
            " request and limit, e.g. `--memory 4Gi` (polymagic build, %%polybuild), so"
            " the scheduler places it on a node with that much free" + _less_memory(run_steps)
        )
    amount = more or "..."
    example = f", e.g. `--memory {more}`" if more else " with `--memory`"
    return (
        f"the executor may use at most {limit} of memory: give it more{example}"
        " (polymagic build, %%polybuild), or in the operation `runPatch: {container:"
        f" {{resources: {{limits: {{memory: {amount}}}}}}}}}` (the build form's Memory limit; in"
        " Python, the resources of KanikoOptions); what the RUN steps start counts towards that"
        " limit, not only Kaniko" + _less_memory(run_steps)
    )


def fix_rate_limited(host: str | None) -> str:
    """A registry answered 429 (too many requests: Docker Hub's pull limit, most often)."""
    where = f"`{host}`" if host else "the registry"
    return (
        f"{where} refused for now: too many requests (429). Pull through a mirror with"
        " `--registry-mirror HOST` (or the registry_mirror setting, once for every build), or"
        " authenticate the pulls; then build again"
    )


def fix_immutable_tag(destination: str | None, option_helps: bool = True) -> str:
    """The registry keeps tags immutable and the destination's tag exists already;
    ``option_helps``: the executor knows the registry's words, so that
    ``--push-ignore-immutable-tag-errors`` would end the push with success."""
    which = f"`{destination}`" if destination else "the destination's tag"
    said = (
        f"the registry does not let {which} be overwritten (immutable tags): push under a new tag"
    )
    if option_helps:
        return (
            f"{said}, or pass `--push-ignore-immutable-tag-errors` when an image already under"
            " that tag is the one you want (the tag keeps naming that image)"
        )
    return (
        f"{said} (`--push-ignore-immutable-tag-errors` would not help: the executor does not"
        " know this registry's wording)"
    )


def fix_evicted(resource: str | None, scratch: str) -> str:
    """``resource``: what the node ran short of, from its eviction message (None: not named);
    ``scratch``: the ephemeral-storage request polymagic makes by default."""
    if resource == "ephemeral-storage":
        return (
            "the node ran short of disk: Kaniko unpacks the base image and writes every layer"
            " to the node's disk; ask for room with `resources.requests.ephemeral-storage` on"
            " the run's container (e.g. `runPatch: {container: {resources: {requests:"
            f" {{ephemeral-storage: 10Gi}}}}}}}}`; polymagic asks for {scratch} unless it is set), so the"
            " scheduler places the build on a node with that much free"
        )
    if resource == "memory":
        return (
            "the node ran short of memory: give the executor a memory request, e.g. `--memory"
            " 4Gi` (polymagic build, %%polybuild), so the scheduler places it on a node with"
            " that much free"
        )
    named = f" ({resource})" if resource else ""
    return (
        f"the node was short of a resource{named}: build again, or on other nodes"
        " (environment.nodeSelector)"
    )


def fix_manifest_unknown(image: str) -> str:
    return (
        f"the image `{image}` is not in its registry (MANIFEST_UNKNOWN): check the base image's"
        " name and tag (the FROM line)"
    )
