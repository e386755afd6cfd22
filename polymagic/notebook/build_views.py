"""What ``%%polybuild`` shows before it submits: the warnings, each rendered Dockerfile with its
lint findings, the compiled component beside the hub's, and the Kubernetes objects.

Returns views (value objects the notebook displays); displays nothing itself. What is shown is
made by ``polymagic.app.preview``, the same values ``polymagic render`` prints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from polymagic.app.settings import wanted_views
from polymagic.setting_schema import VIEWS

if TYPE_CHECKING:
    from polymagic.render.compiler import CompiledBuild
    from polymagic.render.options import BuildOptions

__all__ = ["VIEWS", "build_views", "wanted_views"]


def build_views(build: CompiledBuild, show: str, options: BuildOptions) -> list[Any]:
    """The views of ``build`` that ``show`` asks for, after its warnings."""
    from polymagic.notebook.status_views import warnings_view

    wanted = wanted_views(show)
    views: list[Any] = [warnings_view(build.warnings)] if build.warnings else []
    if "dockerfile" in wanted:
        views += _dockerfile_views(build, options)
    if "component" in wanted:
        views.append(_component_view(build, options))
    if "manifests" in wanted:
        views.append(_manifests_view(build, options))
    return views


def _dockerfile_views(build: CompiledBuild, options: BuildOptions) -> list[Any]:
    from polymagic.app.preview import lint_dockerfiles
    from polymagic.notebook.views import DockerfileView

    # COPY sources are looked up where the build takes them from (the notebook's folder).
    return [
        DockerfileView(linted.rendered.text, linted.rendered.filename, linted.findings)
        for linted in lint_dockerfiles(build, options.context_dir)
    ]


def _component_view(build: CompiledBuild, options: BuildOptions) -> Any:
    from polymagic.notebook.views import ComponentView
    from polymagic.render.compiler import compiled_component

    return ComponentView(
        compiled_component(build),
        build.source_component.to_polyaxon(),
        executor_image=_executor_image(build, options),
    )


def _executor_image(build: CompiledBuild, options: BuildOptions) -> str | None:
    """The executor image the build pod runs, as ``build_manifests`` chooses it (None: the run
    has no container to run)."""
    from polymagic.errors import SpecError
    from polymagic.render.manifests import executor_image_for

    try:
        return executor_image_for(build, options.executor_image)
    except SpecError:
        return None


def _manifests_view(build: CompiledBuild, options: BuildOptions) -> Any:
    from polymagic.app.preview import manifests_for
    from polymagic.notebook.views import ManifestsView
    from polymagic.render.context import pack_build_context
    from polymagic.render.pod_fields import pod_field_lines

    packed = pack_build_context(build, options.context_dir) if options.context_dir else None
    manifests = manifests_for(build, options, packed)
    fields = pod_field_lines(
        manifests.pod, options.allowed_pod_fields, service_account=options.kaniko.service_account
    )
    return ManifestsView(manifests.objects(), context=packed, pod_fields=fields)
