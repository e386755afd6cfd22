"""What a build would submit, as both front ends show it before (or instead of) submitting: each
rendered Dockerfile with its lint findings, the Kubernetes objects for the build's options, and
the file ``--eject`` writes.

Pure: reads the build context folder (the COPY checks, the packed archive), writes nothing, shows
nothing; the command line prints these values, the notebook wraps them in views.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from polymagic.errors import SpecError

if TYPE_CHECKING:
    from polymagic.render.build_objects import BuildManifests
    from polymagic.render.compiler import CompiledBuild
    from polymagic.render.context import PackedContext
    from polymagic.render.dockerfile import RenderedDockerfile
    from polymagic.render.lint import Finding
    from polymagic.render.options import BuildOptions

__all__ = ["LintedDockerfile", "ejected_file", "lint_dockerfiles", "manifests_for"]


@dataclass(frozen=True)
class LintedDockerfile:
    """A rendered Dockerfile and what the linter says about it."""

    rendered: RenderedDockerfile
    findings: tuple[Finding, ...]


def lint_dockerfiles(build: CompiledBuild, context_dir: Path | None) -> list[LintedDockerfile]:
    """Every Dockerfile of ``build`` with its findings; COPY sources are looked up in
    ``context_dir`` (a ``file`` init with a Dockerfile of its own is shown, not linted)."""
    from polymagic.render.lint import lint_dockerfile
    from polymagic.spec.models import DockerfileInit

    inits = build.run.init if isinstance(build.run.init, list) else []
    linted = []
    for rendered in build.dockerfiles:
        spec = inits[rendered.init_index].dockerfile
        findings = (
            lint_dockerfile(
                spec,
                rendered.text,
                context_dir=context_dir,
                params={n: p.value for n, p in build.params.items()},
            )
            if isinstance(spec, DockerfileInit)
            else []
        )
        linted.append(LintedDockerfile(rendered, tuple(findings)))
    return linted


def manifests_for(
    build: CompiledBuild, options: BuildOptions, context: PackedContext | None
) -> BuildManifests:
    """The ConfigMap and Pod that ``options`` would submit for ``build``, with the build
    context packed from ``options.context_dir`` (``context``; the caller packs it, to show what
    packing found before the objects)."""
    from polymagic.render.manifests import build_manifests

    return build_manifests(
        build,
        namespace=options.namespace or "default",
        executor_image=options.executor_image,
        kaniko=options.kaniko,
        context=context,
        timeout=options.timeout,
    )


def ejected_file(build: CompiledBuild, what: Literal["dockerfile", "component"]) -> tuple[str, str]:
    """The file name and text of the rendered Dockerfile or of the compiled component."""
    if what == "dockerfile":
        if not build.dockerfiles:
            raise SpecError("there is no dockerfile init to eject", path="runPatch.init")
        first = build.dockerfiles[0]
        return first.filename, first.text
    from polymagic.render.compiler import compiled_component
    from polymagic.spec.yamltext import dump_yaml

    return f"{build.component.name or 'component'}.yaml", dump_yaml(compiled_component(build))
