"""The IPython magics: ``%%polybuild`` (a build from the operation YAML in the cell) and
``%polybuild status|logs|cancel|list|form|freeze``.

Glue only: parse arguments (the options shared with the command line are declared in
``polymagic.app.arguments``), plan the build with the workflow the command line runs
(``polymagic.app.workflow``), show the plan's views, then submit from it. Settings are traitlets
(``%config PolyBuildMagics.namespace = "ml"``) made from ``polymagic.setting_schema``, with the
values ``polymagic.app.settings`` reads (project file, user file, ``POLYMAGIC_*``); an option left
out on the line takes the setting. Heavy modules (the compiler, the Kubernetes client) are
imported when a magic runs, not when it is loaded.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display
from traitlets import Bool, Float, TraitError, TraitType, Unicode, observe, validate

from polymagic.app.arguments import BUILD_OPTIONS, CONTEXT, EXECUTOR_OPTIONS
from polymagic.app.pod_fields import ALLOW_POD_FIELD
from polymagic.app.settings import Settings, Source, convert, read_settings
from polymagic.errors import SpecError, UsageError
from polymagic.notebook.magic_options import shared_options
from polymagic.setting_schema import SETTINGS, Kind, Setting

if TYPE_CHECKING:
    from polymagic.app.workflow import BuildPlan
    from polymagic.notebook.runner import NotebookBuild

__all__ = ["PolyBuildMagics"]

_SUBCOMMANDS = ("build", "status", "logs", "cancel", "list", "form", "freeze", "inspect")


def _trait(item: Setting) -> TraitType[Any, Any]:
    """The traitlet of a setting, so ``%config PolyBuildMagics.<name>`` sets it."""
    settings: dict[str, Any] = {
        "default_value": item.default,
        "allow_none": item.default is None,
        "help": item.help[0].upper() + item.help[1:] + ".",
    }
    kind = {Kind.FLAG: Bool, Kind.SECONDS: Float}.get(item.kind, Unicode)
    trait: TraitType[Any, Any] = kind(**settings)
    return trait.tag(config=True)


if TYPE_CHECKING:

    class _SettingTraits(Magics):
        def __getattr__(self, name: str) -> Any: ...  # the settings' traitlets

else:
    # One traitlet per setting of the schema: declared there, never here.
    _SettingTraits = type("_SettingTraits", (Magics,), {s.name: _trait(s) for s in SETTINGS})


@magics_class
class PolyBuildMagics(_SettingTraits):
    """``%%polybuild`` and ``%polybuild``; settings are changeable with ``%config``."""

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        settings = read_settings()
        found = {name: value.value for name, value in settings.non_default()}
        self._ready = False
        super().__init__(shell=shell, **{**found, **kwargs})
        self._settings: Settings = settings
        self._ready = True
        self.builds: dict[str, NotebookBuild] = {}

    @property
    def _ip(self) -> Any:
        if self.shell is None:
            raise SpecError("polymagic's magics need an IPython shell: use %load_ext polymagic")
        return self.shell

    @validate(*(s.name for s in SETTINGS))
    def _checked(self, proposal: dict[str, Any]) -> Any:
        name = proposal["trait"].name
        value = proposal["value"]
        if value is None:
            return None
        item = next(s for s in SETTINGS if s.name == name)
        try:
            return convert(item, value, f"PolyBuildMagics.{name}")
        except SpecError as exc:
            raise TraitError(str(exc)) from None

    @observe(*(s.name for s in SETTINGS))
    def _configured(self, change: dict[str, Any]) -> None:
        """A setting changed after loading (``%config``): it wins over the files and the
        environment, and its origin says so."""
        if getattr(self, "_ready", False):
            name = change["name"]
            origin = f"%config PolyBuildMagics.{name}"
            self._settings = self._settings.given(name, change["new"], Source.FRONT_END, origin)

    def settings(self) -> Settings:
        """The settings as this kernel has them now, each with its origin."""
        return self._settings

    # -- %%polybuild ------------------------------------------------------------------------------

    @magic_arguments()
    @shared_options(
        *BUILD_OPTIONS,
        CONTEXT.but(help="folder COPY sources come from (default: the notebook's folder)"),
    )
    @argument("--show", help="views to show: dockerfile,component,manifests (or none)")
    @argument(
        "--out",
        metavar="VAR",
        help="bind the result (or, with --dry-run, the compiled build) to VAR",
    )
    @argument(
        "--eject",
        nargs="?",
        const="dockerfile",
        choices=("dockerfile", "component"),
        help="put the rendered Dockerfile (or the compiled component) into a new cell",
    )
    @argument(
        "--background",
        action="store_true",
        help="return at once; the progress widget keeps updating",
    )
    @argument(
        "--freeze",
        action="store_true",
        help="with `form`: start from this kernel's packages (see `%%polybuild freeze`)",
    )
    @shared_options(EXECUTOR_OPTIONS, ALLOW_POD_FIELD)
    @argument(
        "subcommand",
        nargs="*",
        help="build FILE | status|logs|cancel NAME | list | form | freeze (line magic)",
    )
    @line_cell_magic
    def polybuild(self, line: str, cell: str | None = None) -> Any:
        """Build the operation in the cell; or, as a line magic: build FILE (the operation in a
        file, as ``polymagic build FILE``), status, logs, cancel, list, form, freeze. An option
        left out takes the setting of the same name (``%config PolyBuildMagics``)."""
        if cell is None and line.split()[:1] == ["freeze"]:
            from polymagic.notebook.freeze_magic import run_freeze

            rest = line.split(None, 1)[1] if " " in line.strip() else ""
            for view in run_freeze(rest, self._ip):
                display(view)
            return None
        args = parse_argstring(self.polybuild, line)
        if cell is None:
            return self._line(args)
        if args.subcommand:
            raise UsageError(
                f"unexpected words on the %%polybuild line: {' '.join(args.subcommand)}"
            )
        return self._cell(args, cell)

    def _plan(
        self,
        args: Any,
        source: str | Path,
        params: list[str],
        show: str | None,
        context_dir: Path | None = None,
    ) -> BuildPlan:
        from polymagic.app.workflow import plan_build

        return plan_build(
            source,
            args,
            self._settings,
            context_dir=context_dir or Path.cwd(),
            params=params,
            show=show,
        )

    def _cell(self, args: Any, cell: str | Path) -> Any:
        """Plan, show and (unless a dry run) build the operation in ``cell`` (its text, or the
        file that holds it; COPY sources then come from that file's folder, as on the
        command line)."""
        from polymagic.notebook.build_views import build_views
        from polymagic.notebook.plan_view import PlanView

        folder = cell.resolve().parent if isinstance(cell, Path) else None
        plan = self._plan(args, cell, args.params, args.show, folder)
        plan = replace(plan, options=replace(plan.options, built_from=self._built_from(cell)))
        display(PlanView(plan.settings_lines(), self._settings.warnings))
        for view in build_views(plan.build, ",".join(plan.views) or "none", plan.options):
            display(view)
        if args.eject:
            from polymagic.app.preview import ejected_file

            filename, text = ejected_file(plan.build, args.eject)
            self._ip.set_next_input(f"%%writefile {filename}\n{text}", replace=False)
        if args.dry_run:
            if args.out:
                self._ip.user_ns[args.out] = plan.build
            return None
        return self._run(plan, background=args.background, out=args.out)

    def _built_from(self, cell: str | Path) -> tuple[tuple[str, str], ...]:
        """The notebook (when the kernel knows its path) and the cell's SHA-256 (or the
        operation file), for the provenance."""
        import hashlib
        import os

        notebook = self._ip.user_ns.get("__session__") or os.environ.get("JPY_SESSION_NAME")
        found: list[tuple[str, str]] = []
        if isinstance(notebook, str) and notebook:
            found.append(("notebook", notebook))
        if isinstance(cell, Path):
            found.append(("operationFile", str(cell)))
        else:
            found.append(("cellSha256", hashlib.sha256(cell.encode()).hexdigest()))
        return tuple(found)

    def _run(self, plan: BuildPlan, *, background: bool, out: str | None) -> None:
        from polymagic.app.workflow import connect_for
        from polymagic.notebook.runner import run_notebook_build

        cluster = connect_for(plan)

        def done(finished: NotebookBuild) -> None:
            cluster.close()
            if out and finished.result is not None:
                self._ip.user_ns[out] = finished.result

        def started(running: NotebookBuild) -> None:
            self.builds[running.session.name] = running

        try:
            run_notebook_build(
                cluster,
                plan.build,
                plan.options,
                background=background,
                on_start=started,
                on_done=done,
            )
        except BaseException:
            # Submission failed before the follower took the connection over.
            if not any(b.session.cluster is cluster for b in self.builds.values()):
                cluster.close()
            raise

    # -- %polybuild <subcommand> ------------------------------------------------------------------

    def _line(self, args: Any) -> Any:
        from polymagic.notebook.line_commands import run_cluster_command

        words = list(args.subcommand)
        if not words or words[0] not in _SUBCOMMANDS:
            raise UsageError(
                f"usage: %polybuild {'|'.join(_SUBCOMMANDS)} [NAME] (got `{' '.join(words)}`)"
            )
        if words[0] == "form":
            return self._form(args)
        if words[0] == "inspect":
            from polymagic.notebook.inspect_view import inspect_line

            return inspect_line(words[1:], args)
        if words[0] == "build":
            if len(words) != 2:
                raise UsageError(
                    "usage: %polybuild build FILE [options] (the operation's YAML file)"
                )
            return self._cell(args, Path(words[1]))
        shown = run_cluster_command(
            words[0], words[1:], args.namespace or self._settings["namespace"], self.builds
        )
        if isinstance(shown, str):
            print(shown)  # what `cancel` did: a sentence, not a value for Out[]
            return None
        return shown

    def _form(self, args: Any) -> Any:
        from polymagic.config import find_connections
        from polymagic.notebook.form import BuildForm

        connections_file = args.connections or self._settings["connections_file"]
        catalog = find_connections(connections_file).catalog
        if args.freeze:
            from polymagic.app.freeze_command import freeze_for_form

            operation = freeze_for_form(Path.cwd(), user_namespace=self._ip.user_ns)
            form = BuildForm.from_yaml(operation, connections=catalog)
        else:
            form = BuildForm(connections=catalog)

        def build_from_form(text: str, namespace: str | None) -> None:
            from argparse import Namespace

            line = Namespace(**vars(args))
            if namespace:
                line.namespace = namespace
            plan = self._plan(line, text, [], "none")
            plan = replace(plan, options=replace(plan.options, built_from=self._built_from(text)))
            self._run(plan, background=True, out=args.out)

        form.on_build(build_from_form)
        return form
