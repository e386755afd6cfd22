"""The options ``polymagic build``/``render`` and ``%%polybuild`` share, declared once, and the
one function that turns parsed options into ``BuildOptions``.

Each option is an :class:`Option` (its flags and argparse settings); :func:`add_options` puts a
list of them on any ``argparse`` parser: the command line's sub-commands and the magic's parser
(IPython's ``MagicArgumentParser`` is one). :func:`build_options` reads the parsed options, with
the settings (``polymagic.app.settings``) for what was left out. Only ``argparse`` at import time: the models are imported when options are built,
so loading the extension or ``polymagic --help`` stays cheap.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polymagic.app.provenance_options import NO_ANNOTATIONS, PIN_BASE, asked_provenance
from polymagic.render.executor_flags import EXECUTOR_FLAGS, ExecutorFlag, FlagKind
from polymagic.setting_schema import setting

if TYPE_CHECKING:
    from polymagic.app.settings import Settings
    from polymagic.render.build_objects import KanikoOptions
    from polymagic.render.options import BuildOptions

__all__ = [
    "ATTEST",
    "BUILD_OPTIONS",
    "CONNECTIONS",
    "CONTEXT",
    "DEADLINES",
    "DRY_RUN",
    "EXECUTOR_IMAGE",
    "EXECUTOR_OPTIONS",
    "FORCE",
    "KEEP",
    "NAMESPACE",
    "NO_ATTEST",
    "PARAMS",
    "SIGN",
    "Option",
    "OptionGroup",
    "add_options",
    "build_options",
    "kaniko_options",
    "option",
    "positive_seconds",
    "with_options",
]


@dataclass(frozen=True)
class Option:
    """One option: its flags and the keywords of ``ArgumentParser.add_argument``."""

    flags: tuple[str, ...]
    settings: dict[str, Any] = field(default_factory=dict)

    def but(self, **changes: Any) -> Option:
        """The same option with some settings changed (e.g. its help, where a front end's
        default differs)."""
        return replace(self, settings={**self.settings, **changes})

    def add_to(self, parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
        """Declare this option on ``parser`` (or one of its groups)."""
        parser.add_argument(*self.flags, **self.settings)


@dataclass(frozen=True)
class OptionGroup:
    """Options shown together under a title in the help."""

    title: str
    options: tuple[Option, ...]


def option(*flags: str, **settings: Any) -> Option:
    """An ``Option`` written the way ``add_argument`` is called."""
    return Option(flags, settings)


def positive_seconds(text: str) -> float:
    """An argparse type: a positive number of seconds (the magic's settings refuse the same)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, not `{text}`")
    return value


def add_options(parser: argparse.ArgumentParser, *options: Option | OptionGroup) -> None:
    """Declare ``options`` on ``parser``, in order; a group gets its own titled section."""
    for item in options:
        if isinstance(item, OptionGroup):
            group = parser.add_argument_group(item.title)
            for option in item.options:
                option.add_to(group)
        else:
            item.add_to(parser)


# -- the shared options ----------------------------------------------------------------------

PARAMS = option(
    "-P",
    dest="params",
    action="append",
    default=[],
    metavar="NAME=VALUE",
    help="override a param's value (repeatable)",
)


def _setting_help(name: str) -> str:
    """An option's help from its setting's (``polymagic.setting_schema``), naming the
    setting so a user knows it can be set once for every build."""
    item = setting(name)
    default = f"default {item.default:g}; " if isinstance(item.default, float) else ""
    return f"{item.help} ({default}setting `{name}`)"


CONNECTIONS = option("--connections", metavar="FILE", help=_setting_help("connections_file"))
NAMESPACE = option("--namespace", help=_setting_help("namespace"))
EXECUTOR_IMAGE = option("--executor-image", metavar="IMAGE", help=_setting_help("executor_image"))
DRY_RUN = option(
    "--dry-run", action="store_true", help="show what would be submitted; submit nothing"
)
KEEP = option("--keep", action="store_true", help=_setting_help("keep"))
FORCE = option(
    "--force",
    action="store_true",
    help="build even if the registry already holds an image of this spec",
)
CONTEXT = option(
    "--context",
    metavar="DIR",
    help="folder that COPY sources come from (default: the operation file's folder)",
)
DEADLINES = tuple(
    option(setting(name).flag, type=positive_seconds, metavar="S", help=_setting_help(name))
    for name in ("timeout", "start_timeout", "stuck_grace", "log_idle_timeout")
)
"""The build's deadlines; left out, they are the settings' (``polymagic.setting_schema``)."""

_REPEATED: dict[str, Any] = {"action": "append", "default": []}


def _true_or_false(text: str) -> bool:
    """An argparse type: ``true`` or ``false`` (as the executor writes its boolean flags)."""
    said = text.strip().lower()
    if said in ("true", "false"):
        return said == "true"
    raise argparse.ArgumentTypeError(f"expected true or false, not `{text}`")


def _whole_number(text: str) -> int:
    """An argparse type: a whole number from 0 to 1000."""
    if not text.isdigit() or int(text) > 1000:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to 1000, not `{text}`")
    return int(text)


def _flag_option(item: ExecutorFlag) -> Option:
    """The option of one executor flag, named as the executor names it."""
    since = "v" + ".".join(str(part) for part in item.since)
    named = " (setting `registry_mirror`)" if item.field == "registry_mirrors" else ""
    settings: dict[str, Any] = {
        "dest": item.field,
        "help": f"{item.help} (executor {since}+){named}",
    }
    if item.kind is FlagKind.SWITCH:
        settings["action"] = "store_true"
    elif item.kind is FlagKind.BOOLEAN:
        settings.update(type=_true_or_false, metavar="true|false")
    elif item.kind is FlagKind.NUMBER:
        settings.update(type=_whole_number, metavar="N")
    elif item.kind in (FlagKind.REPEATED, FlagKind.PAIRS):
        settings.update(_REPEATED, metavar="KEY=VALUE" if item.kind is FlagKind.PAIRS else "HOST")
    elif item.choices:
        settings["choices"] = item.choices
    return Option((item.flag,), settings)


_KEPT = "the operation's other resource amounts stay"
EXECUTOR_OPTIONS = OptionGroup(
    "executor options (added to the pod; the compiled component stays Polyaxon's)",
    (
        option(
            "--build-arg",
            **_REPEATED,
            metavar="NAME=VALUE",
            help="a Dockerfile build arg (repeatable)",
        ),
        option("--target", help="the Dockerfile stage to build"),
        option(
            "--tag",
            **_REPEATED,
            metavar="REF",
            help="another destination: a full reference or :tag (repeatable)",
        ),
        option("--reproducible", action="store_true", help="strip timestamps from the image"),
        option("--snapshot-mode", choices=("full", "redo", "time")),
        option(
            "--insecure-registry",
            **_REPEATED,
            metavar="HOST",
            help="reach this registry over plain HTTP (repeatable)",
        ),
        option(
            "--skip-tls-verify-registry",
            **_REPEATED,
            metavar="HOST",
            help="do not verify this registry's certificate (repeatable)",
        ),
        option("--cache-repo", metavar="REPO", help=_setting_help("cache_repo")),
        option(
            "--no-hash-tag", action="store_true", help="do not also push <repository>:spec-<hash>"
        ),
        option("--cpu", help="CPU request and limit of the executor, e.g. 2; " + _KEPT),
        option("--memory", help="memory request and limit of the executor, e.g. 4Gi; " + _KEPT),
        option(
            "--node-selector",
            **_REPEATED,
            metavar="KEY=VALUE",
            help="schedule on matching nodes (repeatable)",
        ),
        option("--service-account", help="service account of the build pod"),
        *(_flag_option(item) for item in EXECUTOR_FLAGS),
        option(
            "--executor-arg",
            **_REPEATED,
            dest="executor_args",
            metavar="--FLAG[=VALUE]",
            help="any other executor flag, passed as given (repeatable)",
        ),
        option(*NO_ANNOTATIONS[0], **NO_ANNOTATIONS[1]),
        option(*PIN_BASE[0], **PIN_BASE[1]),
    ),
)
"""How the executor runs: everything ``KanikoOptions`` holds."""

NO_ATTEST = option(
    "--no-attest",
    action="store_true",
    help="attach no SBOM and no provenance after the push (setting `attest`, on by default)",
)
ATTEST = option(
    "--attest",
    action="store_true",
    help="attach them even when the setting `attest` is off (the default is on)",
)
"""The spelling of the time when attaching was asked for: still taken, and still turns it on
over a setting that turned it off."""
SIGN = option(
    "--sign",
    metavar="KEY",
    help="sign the image and its attestations with `cosign --key KEY` (setting `sign_key`)",
)
BUILD_OPTIONS = (
    PARAMS,
    CONNECTIONS,
    NAMESPACE,
    EXECUTOR_IMAGE,
    DRY_RUN,
    KEEP,
    FORCE,
    *DEADLINES,
    NO_ATTEST,
    ATTEST,
    SIGN,
)
"""What ``polymagic build`` and ``%%polybuild`` both take besides ``--context`` (whose default
each says in its own words) and the executor options."""


# -- from parsed options to BuildOptions -------------------------------------------------------

_DEADLINE_NAMES = ("timeout", "start_timeout", "stuck_grace", "log_idle_timeout")
_OPTION_SETTINGS = (
    "namespace",
    "executor_image",
    "connections_file",
    "cache_repo",
    "registry_mirror",
    "keep",
    "sign_key",
    *_DEADLINE_NAMES,
)
_ATTRIBUTE = {
    "connections_file": "connections",
    "registry_mirror": "registry_mirrors",
    "sign_key": "sign",
}
"""Settings whose option stores its value under another name."""
"""The settings an option of the same name (``--connections`` for ``connections_file``) can
override on the line."""


def _given(args: argparse.Namespace, name: str) -> Any:
    value = getattr(args, _ATTRIBUTE.get(name, name), None)
    if isinstance(value, list):  # a repeated option: the setting holds them comma-separated
        return ",".join(value) or None
    return None if value is False else value


def with_options(settings: Settings, args: argparse.Namespace, where: str = "option") -> Settings:
    """``settings`` with what the parsed options say over them, each with its origin
    (``option --namespace``)."""
    from polymagic.app.settings import Source

    for name in _OPTION_SETTINGS:
        value = _given(args, name)
        if value is not None:
            flag = {
                "connections_file": "--connections",
                "registry_mirror": "--registry-mirror",
                "sign_key": "--sign",
            }.get(name, setting(name).flag)
            settings = settings.given(name, value, Source.FRONT_END, f"{where} {flag}")
    return _with_attest(settings, args, where)


def _with_attest(settings: Settings, args: argparse.Namespace, where: str) -> Settings:
    """``attest`` as ``--no-attest`` (or the old ``--attest``) says over the settings."""
    from polymagic.app.settings import Source
    from polymagic.errors import UsageError

    off, on = bool(getattr(args, "no_attest", False)), bool(getattr(args, "attest", False))
    if off and on:
        raise UsageError("--attest and --no-attest: give one (attaching is on by default)")
    if off or on:
        flag = "--no-attest" if off else "--attest"
        settings = settings.given("attest", on, Source.FRONT_END, f"{where} {flag}")
    return settings


def kaniko_options(args: argparse.Namespace) -> KanikoOptions:
    """The executor options in ``args`` (parsed with ``EXECUTOR_OPTIONS``)."""
    from polymagic.errors import UsageError
    from polymagic.render.build_objects import KanikoOptions
    from polymagic.render.quantities import quantity_value
    from polymagic.spec.params import parse_pairs

    resources: dict[str, Any] | None = None
    amounts = {k: v for k, v in (("cpu", args.cpu), ("memory", args.memory)) if v}
    for name, amount in amounts.items():
        if quantity_value(amount) is None:
            example = "2 or 500m" if name == "cpu" else "4Gi or 512Mi"
            raise UsageError(
                f"--{name} {amount[:64]}: not a Kubernetes quantity; give it like {example}"
            )
    if amounts:
        resources = {"requests": dict(amounts), "limits": dict(amounts)}
    return KanikoOptions(
        build_args=parse_pairs(args.build_arg, "build arg"),
        target=args.target,
        tags=tuple(args.tag),
        reproducible=args.reproducible,
        snapshot_mode=args.snapshot_mode,
        insecure_registries=tuple(args.insecure_registry),
        skip_tls_verify_registries=tuple(args.skip_tls_verify_registry),
        cache_repo=args.cache_repo,
        hash_tag=not args.no_hash_tag,
        resources=resources,
        node_selector=dict(parse_pairs(args.node_selector, "node selector")) or None,
        service_account=args.service_account,
        executor_args=tuple(getattr(args, "executor_args", ())),
        **_flag_values(args),
    )


def _flag_values(args: argparse.Namespace) -> dict[str, Any]:
    """The executor flags' fields as the options gave them (pairs read as KEY=VALUE)."""
    from polymagic.spec.params import parse_pairs

    values: dict[str, Any] = {}
    for item in EXECUTOR_FLAGS:
        value = getattr(args, item.field, None)
        if item.kind is FlagKind.PAIRS:
            value = parse_pairs(value or [], item.flag.lstrip("-"))
        elif item.kind is FlagKind.REPEATED:
            value = tuple(value or ())
        values[item.field] = value
    return values


def build_options(
    args: argparse.Namespace, *, context_dir: Path, settings: Settings | None = None
) -> BuildOptions:
    """``BuildOptions`` from parsed options; what was left out comes from ``settings`` (the
    built-in defaults when there are none).

    ``context_dir`` is where COPY sources come from unless ``--context`` names a folder. A
    parser without some of the run options (``render`` has no deadlines) gets the settings'.
    """
    from polymagic.app.settings import defaults
    from polymagic.render.options import BuildOptions

    resolved = with_options(settings or defaults(), args)
    deadlines = {name: resolved[name] for name in _DEADLINE_NAMES if resolved[name] is not None}
    context = getattr(args, "context", None)
    kaniko = kaniko_options(args)
    if resolved["cache_repo"] and not kaniko.cache_repo:
        kaniko = replace(kaniko, cache_repo=resolved["cache_repo"])
    if resolved["registry_mirror"] and not kaniko.registry_mirrors:
        mirrors = tuple(m.strip() for m in str(resolved["registry_mirror"]).split(",") if m.strip())
        kaniko = replace(kaniko, registry_mirrors=mirrors)
    kaniko = asked_provenance(kaniko, args, Path(context) if context else context_dir)
    return BuildOptions(
        namespace=resolved["namespace"],
        executor_image=resolved["executor_image"],
        keep=bool(resolved["keep"]),
        attest=bool(resolved["attest"]),
        sign_key=resolved["sign_key"] or None,
        kaniko=kaniko,
        force=bool(getattr(args, "force", False)),
        context_dir=Path(context) if context else context_dir,
        allowed_pod_fields=tuple(dict.fromkeys(getattr(args, "allow_pod_field", None) or ())),
        **deadlines,
    )
