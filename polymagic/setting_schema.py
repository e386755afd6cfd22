"""Every setting of polymagic, declared once: its name, type, default, help, and whether a
project's own file may set it.

This is the one place a setting is declared. The magics' traitlets (``%config
PolyBuildMagics.NAME``), the command line's defaults, the ``POLYMAGIC_*`` variables, the
``[tool.polymagic]`` table and the defaults of ``BuildOptions`` are all derived from
:data:`SETTINGS`; where each value is read from, and in which order, is
``polymagic.app.settings``'. Pure data: imports only the standard library, so every layer may
read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["SETTINGS", "VIEWS", "Kind", "Setting", "default_seconds", "setting"]

VIEWS = ("dockerfile", "component", "manifests")
"""The views a build can show before it runs, in the order they are shown."""


class Kind(Enum):
    """The type of a setting's value."""

    TEXT = "text"
    SECONDS = "a positive number of seconds"
    FLAG = "true or false"
    VIEWS = "views to show: dockerfile, component, manifests, comma-separated (or none)"


@dataclass(frozen=True)
class Setting:
    """One setting."""

    name: str
    kind: Kind
    default: str | float | bool | None
    help: str
    steers_credentials: bool = False
    """Decides which image or Secret a build uses (and so who receives the registry
    credentials): read from the user's own places only, never from an untrusted project file."""

    @property
    def variable(self) -> str:
        """The environment variable that sets it."""
        return "POLYMAGIC_" + self.name.upper()

    @property
    def flag(self) -> str:
        """The command-line option of the same name."""
        return "--" + self.name.replace("_", "-")


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "namespace",
        Kind.TEXT,
        None,
        "namespace of builds (default: the kubeconfig context's)",
        steers_credentials=True,
    ),
    Setting(
        "executor_image",
        Kind.TEXT,
        None,
        "Kaniko executor image to run instead of the component's",
        steers_credentials=True,
    ),
    Setting(
        "connections_file",
        Kind.TEXT,
        None,
        "connections catalog file (YAML list)",
        steers_credentials=True,
    ),
    Setting(
        "cache_repo",
        Kind.TEXT,
        None,
        "repository where the executor keeps cached layers (it receives the registry credentials)",
        steers_credentials=True,
    ),
    Setting(
        "registry_mirror",
        Kind.TEXT,
        None,
        "Docker Hub mirror(s) the executor pulls through, comma-separated",
        steers_credentials=True,
    ),
    Setting("timeout", Kind.SECONDS, 3600.0, "overall build deadline, seconds"),
    Setting("start_timeout", Kind.SECONDS, 600.0, "deadline for the build pod to start, seconds"),
    Setting(
        "stuck_grace",
        Kind.SECONDS,
        30.0,
        "fail a pod stuck in ImagePullBackOff/FailedMount/Unschedulable after this, seconds",
    ),
    Setting(
        "log_idle_timeout",
        Kind.SECONDS,
        None,
        "fail when the executor prints nothing for this long, seconds",
    ),
    Setting(
        "show",
        Kind.VIEWS,
        "dockerfile,component,manifests",
        "views shown before a build: dockerfile, component, manifests (or none)",
    ),
    Setting("keep", Kind.FLAG, False, "leave the build's pod and ConfigMap on the cluster"),
    Setting(
        "attest",
        Kind.FLAG,
        True,
        "after the push, attach the image's SBOM and the build's provenance to it in the registry",
    ),
    Setting(
        "sign_key",
        Kind.TEXT,
        None,
        "a cosign key: sign the image and its attestations with `cosign` (must be on PATH)",
        steers_credentials=True,
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def setting(name: str) -> Setting:
    """The setting called ``name`` (a ``KeyError`` for a name that is not one)."""
    return _BY_NAME[name]


def default_seconds(name: str) -> float:
    """The default of a ``SECONDS`` setting that has one (for ``BuildOptions``' fields)."""
    value = _BY_NAME[name].default
    if not isinstance(value, float):
        raise TypeError(f"setting {name} has no default number of seconds")
    return value
