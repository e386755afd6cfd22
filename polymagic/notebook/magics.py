"""The IPython magics: ``%%polybuild`` (a build from the operation YAML in the cell) and
``%polybuild status|logs|cancel|list|form``.

Glue only: parse arguments, compile, show the views, then build through the same code the CLI
uses. Settings are traitlets (``%config PolyBuildMagics.namespace = "ml"``) whose defaults come
from ``[tool.polymagic]`` in pyproject.toml and ``POLYMAGIC_*`` variables. Heavy modules
(the compiler, the Kubernetes client) are imported when a magic runs, not when it is loaded.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display
from traitlets import Bool, Float, TraitError, Unicode, validate

from polymagic.errors import NotFoundError, SpecError, UsageError
from polymagic.notebook.settings import find_defaults

if TYPE_CHECKING:
    from polymagic.notebook.runner import NotebookBuild
    from polymagic.render.compiler import CompiledBuild
    from polymagic.render.options import BuildOptions

__all__ = ["PolyBuildMagics"]

_VIEWS = ("dockerfile", "component", "manifests")
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
        views = [v.strip() for v in str(proposal["value"]).split(",") if v.strip()]
        unknown = [v for v in views if v not in _VIEWS]
        if unknown:
            raise TraitError(
                f"PolyBuildMagics.show: unknown view `{unknown[0]}` (choose from {', '.join(_VIEWS)})"
            )
        return ",".join(views)

    # -- %%polybuild ------------------------------------------------------------------------------

    @magic_arguments()
    @argument(
        "-P",
        dest="params",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a param's value (repeatable)",
    )
    @argument("--connections", help="connections catalog file")
    @argument("--namespace", help="namespace of the build")
    @argument("--dry-run", action="store_true", help="render and show only; submit nothing")
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
    @argument("--keep", action="store_true", help="leave the pod and ConfigMap afterwards")
    @argument(
        "--context",
        metavar="DIR",
        help="folder COPY sources come from (default: the notebook's folder)",
    )
    @argument(
        "--build-arg",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a Dockerfile build arg (repeatable)",
    )
    @argument("--target", help="the Dockerfile stage to build")
    @argument(
        "--tag",
        action="append",
        default=[],
        metavar="REF",
        help="another destination: a full reference or :tag (repeatable)",
    )
    @argument(
        "--insecure-registry",
        action="append",
        default=[],
        metavar="HOST",
        help="reach this registry over plain HTTP (repeatable)",
    )
    @argument(
        "--force",
        action="store_true",
        help="build even if the registry already holds an image of this spec",
    )
    @argument(
        "--freeze",
        action="store_true",
        help="with `form`: start from this kernel's packages (see `%%polybuild freeze`)",
    )
    @argument(
        "subcommand", nargs="*", help="status|logs|cancel|list|form|freeze [NAME] (line magic)"
    )
    @line_cell_magic
    def polybuild(self, line: str, cell: str | None = None) -> Any:
        """Build the operation in the cell; or, as a line magic: status, logs, cancel, list, form."""
        if cell is None and line.split()[:1] == ["freeze"]:
            return self._freeze(line.split(None, 1)[1] if " " in line.strip() else "")
        args = parse_argstring(self.polybuild, line)
        if cell is None:
            return self._line(args)
        if args.subcommand:
            raise UsageError(
                f"unexpected words on the %%polybuild line: {' '.join(args.subcommand)}"
            )
        return self._cell(args, cell)

    def _options(self, args: Any) -> BuildOptions:
        from polymagic.render.manifests import KanikoOptions
        from polymagic.render.options import BuildOptions
        from polymagic.spec.params import parse_pairs

        kaniko = KanikoOptions(
            build_args=parse_pairs(getattr(args, "build_arg", None) or (), "build arg"),
            target=getattr(args, "target", None),
            tags=tuple(getattr(args, "tag", None) or ()),
            insecure_registries=tuple(getattr(args, "insecure_registry", None) or ()),
        )
        return BuildOptions(
            kaniko=kaniko,
            force=bool(getattr(args, "force", False)),
            context_dir=Path(args.context) if getattr(args, "context", None) else Path.cwd(),
            namespace=args.namespace or self.namespace,
            executor_image=self.executor_image,
            keep=bool(args.keep or self.keep),
            timeout=self.timeout,
            start_timeout=self.start_timeout,
            stuck_grace=self.stuck_grace,
            log_idle_timeout=self.log_idle_timeout,
        )

    def _compile(
        self, text: str, params: list[str], connections: str | None, namespace: str | None
    ) -> CompiledBuild:
        from polymagic.config import compile_with_connections, find_connections

        source = find_connections(connections or self.connections_file)
        return compile_with_connections(text, source, params=params, namespace=namespace)

    def _cell(self, args: Any, cell: str) -> Any:
        namespace = args.namespace or self.namespace
        build = self._compile(cell, args.params, args.connections, namespace)
        options = self._options(args)
        self._show(build, args.show if args.show is not None else self.show, namespace, options)
        if args.eject:
            self._eject(build, args.eject)
        if args.dry_run:
            if args.out:
                self._ip.user_ns[args.out] = build
            return None
        return self._run(build, options, background=args.background, out=args.out)

    def _show(
        self, build: CompiledBuild, show: str, namespace: str | None, options: BuildOptions
    ) -> None:
        from polymagic.notebook.status_views import warnings_view

        wanted = {v.strip() for v in show.split(",") if v.strip() and v.strip() != "none"}
        if build.warnings:
            display(warnings_view(build.warnings))
        if "dockerfile" in wanted:
            for view in _dockerfile_views(build):
                display(view)
        if "component" in wanted:
            display(_component_view(build))
        if "manifests" in wanted:
            from polymagic.notebook.views import ManifestsView
            from polymagic.render.context import pack_build_context
            from polymagic.render.manifests import build_manifests

            packed = pack_build_context(build, options.context_dir) if options.context_dir else None
            manifests = build_manifests(
                build,
                namespace=namespace or "default",
                executor_image=self.executor_image,
                kaniko=options.kaniko,
                context=packed,
                timeout=options.timeout,
            )
            display(ManifestsView(manifests.objects(), context=packed))

    def _eject(self, build: CompiledBuild, what: str) -> None:
        if what == "dockerfile":
            if not build.dockerfiles:
                raise SpecError("there is no dockerfile init to eject", path="runPatch.init")
            first = build.dockerfiles[0]
            text = f"%%writefile {first.filename}\n{first.text}"
        else:
            from polymagic.render.compiler import compiled_component
            from polymagic.spec.yamltext import dump_yaml

            text = f"%%writefile {build.component.name or 'component'}.yaml\n{dump_yaml(compiled_component(build))}"
        self._ip.set_next_input(text, replace=False)

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
        words = list(args.subcommand)
        if not words or words[0] not in _SUBCOMMANDS:
            raise UsageError(
                f"usage: %polybuild {'|'.join(_SUBCOMMANDS)} [NAME] (got `{' '.join(words)}`)"
            )
        command, rest = words[0], words[1:]
        if command == "form":
            return self._form(args)
        from polymagic.kube.client import connect
        from polymagic.kube.session import cancel_build, find_builds
        from polymagic.notebook.status_views import BuildList, LogView

        cluster = connect(namespace=args.namespace or self.namespace)
        try:
            if command == "list":
                return BuildList(find_builds(cluster, cluster.namespace))
            if not rest:
                raise UsageError(f"usage: %polybuild {command} NAME")
            name = rest[0]
            if command == "status":
                found = find_builds(cluster, cluster.namespace, name)
                if not found:
                    raise NotFoundError(name, cluster.namespace)
                return BuildList(found)
            if command == "logs":
                from polymagic.render.kaniko_log import strip_ansi
                from polymagic.render.manifests import CONTAINER_NAME

                lines = [
                    strip_ansi(x)
                    for x in cluster.pod_log(cluster.namespace, name, CONTAINER_NAME, follow=False)
                ]
                return LogView(name, lines)
            if not cancel_build(cluster, name, cluster.namespace):
                raise NotFoundError(name, cluster.namespace)
            running = self.builds.get(name)
            if running is not None:
                running.session.cancel()
            print(f"cancelled build `{name}` (pod and ConfigMap deleted)")
            return None
        finally:
            cluster.close()

    def _freeze(self, rest: str) -> None:
        """``%polybuild freeze``: requirements.txt next to the notebook and a new cell."""
        import shlex

        from polymagic.app.freeze_command import (
            add_freeze_arguments,
            freeze_interpreter,
            write_requirements,
        )
        from polymagic.notebook.freeze_view import FreezeView
        from polymagic.notebook.status_views import warnings_view

        parser = _MagicParser(prog="%polybuild freeze", add_help=False)
        add_freeze_arguments(parser)
        parser.add_argument(
            "--out", metavar="VAR", help="bind the FreezeResult (.operation, .requirements) to VAR"
        )
        try:
            words = shlex.split(rest)
        except ValueError as exc:
            raise UsageError(f"%polybuild freeze: {exc}") from exc
        args: argparse.Namespace = parser.parse_args(words)
        frozen = freeze_interpreter(args, Path.cwd(), user_namespace=self._ip.user_ns)
        write_requirements(frozen, force=args.force)
        display(FreezeView(frozen.result, str(frozen.requirements_path)))
        if frozen.result.warnings:
            display(warnings_view(frozen.result.warnings))
        for view in _init_dockerfile_views(frozen.result.operation):
            display(view)
        self._ip.set_next_input("%%polybuild\n" + frozen.result.operation, replace=False)
        if args.out:
            self._ip.user_ns[args.out] = frozen.result

    def _form(self, args: Any) -> Any:
        from polymagic.config import find_connections
        from polymagic.notebook.form import BuildForm

        catalog = find_connections(args.connections or self.connections_file).catalog
        if args.freeze:
            form = BuildForm.from_yaml(_frozen_for_form(self._ip.user_ns), connections=catalog)
        else:
            form = BuildForm(connections=catalog)

        def build_from_form(text: str, namespace: str | None) -> None:
            build = self._compile(text, [], args.connections, namespace or self.namespace)
            options = self._options(args)
            if namespace:
                from dataclasses import replace

                options = replace(options, namespace=namespace)
            self._run(build, options, background=True, out=args.out)

        form.on_build(build_from_form)
        return form


class _MagicParser(argparse.ArgumentParser):
    """argparse that reports a bad option as one clear error instead of exiting the kernel."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def _init_dockerfile_views(operation: str) -> list[Any]:
    """The Dockerfile of an operation's init, rendered alone (its destination may still be a
    placeholder), with lint findings against the notebook's folder."""
    import yaml

    from polymagic.notebook.views import DockerfileView
    from polymagic.render.dockerfile import render_dockerfile
    from polymagic.render.lint import lint_dockerfile
    from polymagic.spec.loader import load_dockerfile_init

    document = yaml.safe_load(operation)
    views = []
    for init in document["runPatch"]["init"]:
        spec = load_dockerfile_init(init["dockerfile"])
        text = render_dockerfile(spec)
        views.append(
            DockerfileView(text, findings=lint_dockerfile(spec, text, context_dir=Path.cwd()))
        )
    return views


def _frozen_for_form(user_namespace: Any) -> str:
    """The operation of a default freeze, for the form; its requirements file must be there."""

    from polymagic.app.freeze_command import add_freeze_arguments, freeze_interpreter

    parser = _MagicParser(prog="%polybuild form --freeze", add_help=False)
    add_freeze_arguments(parser)
    frozen = freeze_interpreter(parser.parse_args([]), Path.cwd(), user_namespace=user_namespace)
    path = frozen.requirements_path
    current = path.read_text(encoding="utf-8") if path.is_file() else None
    if current is None:
        path.write_text(frozen.result.requirements, encoding="utf-8")
    elif current != frozen.result.requirements:
        raise SpecError(
            f"{path} exists and differs from this kernel's packages: run `%polybuild freeze"
            " --force` to rewrite it (or remove it), then `%polybuild form --freeze` again"
        )
    return frozen.result.operation


def _dockerfile_views(build: CompiledBuild) -> list[Any]:
    from polymagic.notebook.views import DockerfileView
    from polymagic.render.lint import lint_dockerfile
    from polymagic.spec.models import DockerfileInit

    views = []
    inits = build.run.init if isinstance(build.run.init, list) else []
    for rendered in build.dockerfiles:
        spec = inits[rendered.init_index].dockerfile
        # COPY sources are looked up next to the notebook (the kernel's working directory).
        findings = (
            lint_dockerfile(spec, rendered.text, context_dir=Path.cwd())
            if isinstance(spec, DockerfileInit)
            else []
        )
        views.append(DockerfileView(rendered.text, rendered.filename, findings))
    return views


def _component_view(build: CompiledBuild) -> Any:
    from polymagic.notebook.views import ComponentView
    from polymagic.render.compiler import compiled_component

    return ComponentView(compiled_component(build), build.source_component.to_polyaxon())
