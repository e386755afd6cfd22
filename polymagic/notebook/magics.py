"""The IPython magics: ``%%polybuild`` (a build from the operation YAML in the cell) and
``%polybuild status|logs|cancel|list|form|freeze``.

Glue only: parse arguments (the options shared with the command line are declared in
``polymagic.app.arguments``), compile, show the views, then build through the same code the CLI
uses. Settings are traitlets (``%config PolyBuildMagics.namespace = "ml"``) whose defaults come
from ``[tool.polymagic]`` in pyproject.toml and ``POLYMAGIC_*`` variables; an option left out
on the line takes the setting. Heavy modules (the compiler, the Kubernetes client) are imported
when a magic runs, not when it is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display
from traitlets import Bool, Float, TraitError, Unicode, validate

from polymagic.app.arguments import (
    BUILD_OPTIONS,
    CONTEXT,
    EXECUTOR_OPTIONS,
    OptionDefaults,
    build_options,
)
from polymagic.errors import SpecError, UsageError
from polymagic.notebook.build_views import wanted_views
from polymagic.notebook.magic_options import shared_options
from polymagic.notebook.settings import find_defaults

if TYPE_CHECKING:
    from polymagic.notebook.runner import NotebookBuild
    from polymagic.render.compiler import CompiledBuild
    from polymagic.render.options import BuildOptions

__all__ = ["PolyBuildMagics"]

_SUBCOMMANDS = ("status", "logs", "cancel", "list", "form", "freeze")


@magics_class
class PolyBuildMagics(Magics):
    """``%%polybuild`` and ``%polybuild``; settings are changeable with ``%config``."""

    namespace = Unicode(
        None, allow_none=True, help="Namespace of builds (default: the kubeconfig's)."
    ).tag(config=True)
    executor_image = Unicode(
        None, allow_none=True, help="Kaniko executor image to run instead of the component's."
    ).tag(config=True)
    connections_file = Unicode(
        None, allow_none=True, help="Connections catalog file (YAML list)."
    ).tag(config=True)
    timeout = Float(3600.0, help="Overall build deadline, seconds.").tag(config=True)
    start_timeout = Float(600.0, help="Deadline for the build pod to start, seconds.").tag(
        config=True
    )
    stuck_grace = Float(
        30.0,
        help="Fail a pod stuck in ImagePullBackOff/FailedMount/Unschedulable after this, seconds.",
    ).tag(config=True)
    log_idle_timeout = Float(
        None, allow_none=True, help="Fail when the executor prints nothing for this long, seconds."
    ).tag(config=True)
    show = Unicode(
        "dockerfile,component,manifests",
        help="Views shown before a build: dockerfile, component, manifests.",
    ).tag(config=True)
    keep = Bool(False, help="Leave the build's pod and ConfigMap on the cluster afterwards.").tag(
        config=True
    )

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        defaults = find_defaults()
        super().__init__(shell=shell, **{**defaults, **kwargs})
        self.builds: dict[str, NotebookBuild] = {}

    @property
    def _ip(self) -> Any:
        if self.shell is None:
            raise SpecError("polymagic's magics need an IPython shell: use %load_ext polymagic")
        return self.shell

    @validate("timeout", "start_timeout", "stuck_grace", "log_idle_timeout")
    def _positive(self, proposal: dict[str, Any]) -> Any:
        value = proposal["value"]
        if value is not None and value <= 0:
            raise TraitError(
                f"PolyBuildMagics.{proposal['trait'].name} must be a positive number of seconds, not {value}"
            )
        return value

    @validate("show")
    def _known_views(self, proposal: dict[str, Any]) -> str:
        try:
            return ",".join(wanted_views(str(proposal["value"]))) or "none"
        except SpecError as exc:
            raise TraitError(f"PolyBuildMagics.show: {exc}") from None

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
    @shared_options(EXECUTOR_OPTIONS)
    @argument(
        "subcommand", nargs="*", help="status|logs|cancel|list|form|freeze [NAME] (line magic)"
    )
    @line_cell_magic
    def polybuild(self, line: str, cell: str | None = None) -> Any:
        """Build the operation in the cell; or, as a line magic: status, logs, cancel, list,
        form, freeze. An option left out takes the setting of the same name
        (``%config PolyBuildMagics``)."""
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

    def _options(self, args: Any) -> BuildOptions:
        """The build's options: the line's, then the settings, then the built-in defaults."""
        defaults = OptionDefaults(
            namespace=self.namespace,
            executor_image=self.executor_image,
            keep=self.keep,
            timeout=self.timeout,
            start_timeout=self.start_timeout,
            stuck_grace=self.stuck_grace,
            log_idle_timeout=self.log_idle_timeout,
        )
        return build_options(args, context_dir=Path.cwd(), defaults=defaults)

    def _compile(
        self, text: str, params: list[str], connections: str | None, namespace: str | None
    ) -> CompiledBuild:
        from polymagic.config import compile_with_connections, find_connections

        source = find_connections(connections or self.connections_file)
        return compile_with_connections(text, source, params=params, namespace=namespace)

    def _cell(self, args: Any, cell: str) -> Any:
        from polymagic.notebook.build_views import build_views

        options = self._options(args)
        build = self._compile(cell, args.params, args.connections, options.namespace)
        for view in build_views(build, args.show if args.show is not None else self.show, options):
            display(view)
        if args.eject:
            from polymagic.app.preview import ejected_file

            filename, text = ejected_file(build, args.eject)
            self._ip.set_next_input(f"%%writefile {filename}\n{text}", replace=False)
        if args.dry_run:
            if args.out:
                self._ip.user_ns[args.out] = build
            return None
        return self._run(build, options, background=args.background, out=args.out)

    def _run(
        self, build: CompiledBuild, options: BuildOptions, *, background: bool, out: str | None
    ) -> None:
        from polymagic.kube.client import connect
        from polymagic.notebook.runner import run_notebook_build

        cluster = connect(namespace=options.namespace)

        def done(finished: NotebookBuild) -> None:
            cluster.close()
            if out and finished.result is not None:
                self._ip.user_ns[out] = finished.result

        def started(running: NotebookBuild) -> None:
            self.builds[running.session.name] = running

        run_notebook_build(
            cluster, build, options, background=background, on_start=started, on_done=done
        )

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
        shown = run_cluster_command(
            words[0], words[1:], args.namespace or self.namespace, self.builds
        )
        if isinstance(shown, str):
            print(shown)  # what `cancel` did: a sentence, not a value for Out[]
            return None
        return shown

    def _form(self, args: Any) -> Any:
        from polymagic.config import find_connections
        from polymagic.notebook.form import BuildForm

        catalog = find_connections(args.connections or self.connections_file).catalog
        if args.freeze:
            from polymagic.app.freeze_command import freeze_for_form

            operation = freeze_for_form(Path.cwd(), user_namespace=self._ip.user_ns)
            form = BuildForm.from_yaml(operation, connections=catalog)
        else:
            form = BuildForm(connections=catalog)

        def build_from_form(text: str, namespace: str | None) -> None:
            options = self._options(args)
            if namespace:
                from dataclasses import replace

                options = replace(options, namespace=namespace)
            build = self._compile(text, [], args.connections, options.namespace)
            self._run(build, options, background=True, out=args.out)

        form.on_build(build_from_form)
        return form
