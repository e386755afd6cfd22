"""Value objects that show a build's parts in any frontend: the rendered Dockerfile with its lint
findings, the compiled component with what ``runPatch`` changed, the Kubernetes objects, and the
record of a finished build.

Each view has ``__repr__`` (its text form, for terminals) and ``_repr_mimebundle_`` returning
``text/plain`` and ``text/html``. The HTML uses inline styles only and no JavaScript, so it
survives nbconvert, static HTML and untrusted notebooks; everything user-controlled is escaped
(Pygments escapes the code it highlights, ``html.escape`` the rest). What they show is what
runs: control, format and invisible characters (an ESC, a ``\\r``, U+202E, a zero-width space)
are shown as escapes (:func:`polymagic.printable.visible`), never passed to the frontend, while
``DockerfileView.text`` keeps the exact bytes. Views hold data and format it; they compute
nothing about the build themselves.
"""

from __future__ import annotations

import abc
import datetime
import difflib
import html
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers.configs import DockerLexer
from pygments.lexers.data import YamlLexer
from pygments.styles.default import DefaultStyle

from polymagic._version import __version__
from polymagic.errors import one_line
from polymagic.outcome.status_text import duration_text, reused_text
from polymagic.printable import visible
from polymagic.render.lint import Finding, Severity
from polymagic.spec.yamltext import dump_yaml, dump_yaml_all

if TYPE_CHECKING:
    from polymagic.outcome.result import BuildResult
    from polymagic.render.context import PackedContext

__all__ = ["BUILD_MIMETYPE", "BuildRecord", "ComponentView", "DockerfileView", "ManifestsView"]

BUILD_MIMETYPE = "application/vnd.polymagic.build+json"
"""The mimetype of a ``BuildRecord`` in a cell's output (its fields as JSON)."""

MimeBundle = dict[str, Any]

_BOX = "font-family:monospace;font-size:90%;color:#222;background:#f8f8f8;padding:4px 6px;"
_SEVERITY_COLOURS = {
    Severity.ERROR: "#b00020",
    Severity.WARNING: "#9a6700",
    Severity.INFO: "#0550ae",
}
_DIFF_COLOURS = {"+": "#e6ffec", "-": "#ffebe9", "@": "#ddf4ff"}


class _Style(DefaultStyle):
    """Pygments' default colours with dim line numbers (readable in light and dark themes,
    because the code box sets its own background)."""

    line_number_color = "#999999"
    line_number_background_color = "transparent"


def _highlighted(text: str, lexer: Lexer, marked: Sequence[int] = ()) -> str:
    """``text`` as inline-styled HTML with line numbers; ``marked`` lines are highlighted."""
    formatter = HtmlFormatter(
        noclasses=True, linenos="inline", style=_Style, hl_lines=list(marked), wrapcode=False
    )
    return f'<div style="{_BOX}">{highlight(text, lexer, formatter)}</div>'


def _title(text: str) -> str:
    return f"<div><strong>{html.escape(visible(text))}</strong></div>"


def _yaml_lexer() -> Lexer:
    return YamlLexer(stripnl=False)


class _View(abc.ABC):
    """A text form (``__repr__``) and an HTML form, together in the mimebundle."""

    @abc.abstractmethod
    def plain(self) -> str:
        """The text form (also ``repr``)."""

    @abc.abstractmethod
    def html(self) -> str:
        """The HTML form: inline styles, no scripts, user text escaped."""

    def __repr__(self) -> str:
        return self.plain()

    def _repr_mimebundle_(
        self, include: Sequence[str] | None = None, exclude: Sequence[str] | None = None
    ) -> MimeBundle:
        return {"text/plain": self.plain(), "text/html": self.html()}


class DockerfileView(_View):
    """A rendered Dockerfile, highlighted, with its lint findings; ``.text`` is exact."""

    def __init__(
        self,
        text: str,
        filename: str = "Dockerfile",
        findings: Sequence[Finding] = (),
        title: str | None = None,
    ) -> None:
        self.text = text
        """The Dockerfile exactly as rendered."""
        self.filename = filename
        self.findings = tuple(findings)
        self.title = title or filename

    def plain(self) -> str:
        # Every line as the executor reads it (Polyaxon's leading empty line included), with
        # what would hide text shown as escapes: a "\r" could otherwise overwrite a line.
        text = f"# {visible(self.title)}\n{visible(self.text)}"
        if not self.findings:
            return text
        lines = [f"lint findings ({len(self.findings)}):", *(str(f) for f in self.findings)]
        return text + ("" if text.endswith("\n") else "\n") + "\n" + "\n".join(lines)

    def html(self) -> str:
        # stripnl=False: Polyaxon's Dockerfile starts with an empty line, and line numbers
        # must match the findings'.
        marked = sorted({f.line for f in self.findings if f.line})
        # Escaped before highlighting: Pygments would also read a "\r" as a line end.
        code = _highlighted(visible(self.text), DockerLexer(stripnl=False), marked)
        return _title(self.title) + code + self._findings_html()

    def _findings_html(self) -> str:
        if not self.findings:
            return '<div style="color:#1a7f37">no lint findings</div>'
        items = []
        for finding in self.findings:
            colour = _SEVERITY_COLOURS.get(finding.severity, "#222")
            where = f"line {finding.line}" if finding.line else "—"
            items.append(
                f'<li><span style="color:{colour};font-weight:bold">'
                f"{html.escape(finding.severity.value)}</span> {where}: "
                f"<code>{html.escape(finding.code)}</code> {html.escape(visible(finding.message))}</li>"
            )
        return f'<ul style="margin:4px 0">{"".join(items)}</ul>'


class ComponentView(_View):
    """The compiled component as YAML, and a diff showing what ``runPatch`` changed.

    ``executor_image`` is the image the build pod will run. When it is not the component's
    ``run.container.image`` (the hub's ``gcr.io/kaniko-project/executor:latest``, which polymagic
    replaces by its executor setting), the shown YAML says so on that line and a note under it
    does too; ``.yaml`` stays the component exactly as compiled (what ``--eject component`` and
    ``-o`` write)."""

    def __init__(
        self,
        compiled: Mapping[str, Any],
        source: Mapping[str, Any],
        title: str = "compiled component",
        executor_image: str | None = None,
    ) -> None:
        self.compiled = dict(compiled)
        self.source = dict(source)
        self.title = title
        self.yaml = dump_yaml(self.compiled)
        """The compiled component as YAML, exactly."""
        self.executor_image = executor_image
        self._image_line, self.shown_yaml = _annotated(self.yaml, executor_image)
        """The YAML as shown: the container's ``image:`` line notes the executor that runs."""
        self.diff = list(
            difflib.unified_diff(
                dump_yaml(self.source).splitlines(),
                self.yaml.splitlines(),
                fromfile="component as written",
                tofile="compiled (runPatch and params applied)",
                lineterm="",
            )
        )

    @property
    def executor_note(self) -> str:
        """The sentence under the YAML when the pod runs another executor than ``image:``
        says (empty otherwise)."""
        if not self._image_line:
            return ""
        return (
            f"the build pod runs {self.executor_image} (polymagic's executor setting);"
            " run.container.image is the hub component's default, kept as Polyaxon compiles it"
            " (--eject component and -o write it unchanged)"
        )

    def plain(self) -> str:
        changes = "\n".join(self.diff) if self.diff else "(runPatch changed nothing)"
        note = f"\n# {self.executor_note}" if self.executor_note else ""
        return f"# {self.title}\n{self.shown_yaml.rstrip()}{note}\n\n# what changed\n{changes}"

    def html(self) -> str:
        marked = [self._image_line] if self._image_line else []
        note = (
            f'<div style="color:{_SEVERITY_COLOURS[Severity.INFO]}">'
            f"{html.escape(self.executor_note)}</div>"
            if self.executor_note
            else ""
        )
        return (
            _title(self.title)
            + f"<details open><summary>what changed ({self._counts()})</summary>"
            + self._diff_html()
            + "</details><details open><summary>YAML</summary>"
            + _highlighted(self.shown_yaml, _yaml_lexer(), marked)
            + note
            + "</details>"
        )

    def _counts(self) -> str:
        added = sum(1 for line in self.diff if line.startswith("+") and not line.startswith("+++"))
        removed = sum(
            1 for line in self.diff if line.startswith("-") and not line.startswith("---")
        )
        return f"+{added} -{removed}"

    def _diff_html(self) -> str:
        if not self.diff:
            return "<div>runPatch changed nothing</div>"
        rows = []
        for line in self.diff:
            colour = _DIFF_COLOURS.get(line[:1], "transparent")
            if line.startswith(("+++", "---")):
                colour = "transparent"
            rows.append(
                f'<div style="background:{colour};white-space:pre">{html.escape(line) or " "}</div>'
            )
        return f'<div style="{_BOX}">{"".join(rows)}</div>'


def _annotated(text: str, executor_image: str | None) -> tuple[int, str]:
    """``text`` (a compiled component's YAML) with ``  # runs <executor_image>`` after the
    container's ``image:`` line when that image is another one, and that line's number (1-based;
    0 when nothing was annotated)."""
    if not executor_image:
        return 0, text
    lines = text.split("\n")
    in_container = False
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped == "container:":
            in_container = True
        elif in_container and stripped.startswith("image:"):
            image = stripped[len("image:") :].strip().strip("'\"")
            if image == executor_image:
                return 0, text
            lines[index] = f"{line}  # runs {executor_image} (polymagic's executor setting)"
            return index + 1, "\n".join(lines)
    return 0, text


class ManifestsView(_View):
    """The Kubernetes objects polymagic creates, one collapsible YAML section each, and the
    top-level entries of the local files they carry (names and sizes, never contents)."""

    def __init__(
        self,
        objects: Sequence[Mapping[str, Any]],
        context: PackedContext | None = None,
        pod_fields: Sequence[str] = (),
    ) -> None:
        self.objects = [dict(obj) for obj in objects]
        self.context = context
        self.pod_fields = tuple(pod_fields)
        """The pod's fields that widen what the build can reach, each with its verdict
        (:func:`polymagic.render.pod_fields.pod_field_lines`): always listed."""

    def plain(self) -> str:
        fields = "".join(f"# pod field {visible(one_line(line))}\n" for line in self.pod_fields)
        return self._context_plain() + fields + dump_yaml_all(self.objects).rstrip("\n")

    def html(self) -> str:
        sections = [self._context_html(), self._pod_fields_html()]
        for obj in self.objects:
            meta = obj.get("metadata") or {}
            label = f"{obj.get('kind', 'object')} {meta.get('name', '')}".strip()
            sections.append(
                f"<details><summary>{html.escape(visible(label))}</summary>"
                f"{_highlighted(dump_yaml(obj), _yaml_lexer())}</details>"
            )
        return "".join(sections) or "<div>no objects</div>"

    def _pod_fields_html(self) -> str:
        if not self.pod_fields:
            return ""
        colour = _SEVERITY_COLOURS[Severity.WARNING]
        items = "".join(f"<li>{html.escape(visible(line))}</li>" for line in self.pod_fields)
        return (
            f'<div style="color:{colour}"><strong>pod fields that widen what the build can'
            f' reach</strong><ul style="margin:4px 0">{items}</ul></div>'
        )

    def _context_plain(self) -> str:
        if self.context is None:
            return ""
        lines = [f"# {_context_title(self.context)}"]
        lines += [f"#   {visible(one_line(line))}" for line in self.context.listing()]
        lines += [f"# warning: {visible(one_line(warning))}" for warning in self.context.warnings]
        return "\n".join(lines) + "\n"

    def _context_html(self) -> str:
        if self.context is None:
            return ""
        rows = "".join(
            f'<tr><td style="text-align:left;padding-right:1em"><code>{html.escape(visible(e.name))}'
            f"{'/' if e.kind == 'folder' else ''}</code></td>"
            f'<td style="text-align:left">{html.escape(e.summary())}</td></tr>'
            for e in self.context.top_level
        )
        warnings = "".join(
            f'<div style="color:{_SEVERITY_COLOURS[Severity.WARNING]}">warning: '
            f"{html.escape(visible(warning))}</div>"
            for warning in self.context.warnings
        )
        return (
            f"<details open><summary>{html.escape(_context_title(self.context))}</summary>"
            f"<table>{rows}</table>{warnings}</details>"
        )


def _context_title(context: PackedContext) -> str:
    return f"build context: {len(context.files)} entries, {context.size} bytes compressed"


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class BuildRecord:
    """What a finished build made, embedded in the cell output so a shared notebook shows it."""

    name: str
    namespace: str
    spec_hash: str
    image: str
    digest: str
    executor_image: str
    duration: float
    destinations: tuple[str, ...] = ()
    polymagic_version: str = __version__
    finished_at: str = field(default_factory=_now)
    reused: bool = False
    """The registry held this image already: nothing was built, ``duration`` is the check's."""
    built_at: str = ""
    """When a reused image was built, where known."""

    @classmethod
    def from_result(cls, result: BuildResult, built_at: str = "") -> BuildRecord:
        """The record of a successful build, finished now (``built_at``: when a reused image
        was built, where known)."""
        return cls(
            name=result.name,
            namespace=result.namespace,
            spec_hash=result.spec_hash,
            image=result.image,
            digest=result.digest,
            executor_image=result.executor_image,
            duration=round(result.duration, 3),
            destinations=tuple(result.tags),
            reused=result.reused,
            built_at=built_at if result.reused else "",
        )

    def to_json(self) -> dict[str, Any]:
        """The fields as JSON-ready values (the ``BUILD_MIMETYPE`` payload)."""
        data = asdict(self)
        data["destinations"] = list(self.destinations)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BuildRecord:
        """The record back from its ``BUILD_MIMETYPE`` payload."""
        values = dict(data)
        values["destinations"] = tuple(values.get("destinations") or ())
        return cls(**values)

    @property
    def took(self) -> str:
        """How long the build took, or that it was reused (no build, no duration)."""
        return reused_text(self.built_at) if self.reused else duration_text(self.duration)

    def __repr__(self) -> str:
        what = "image" if self.reused else "built"
        return visible(
            f"{what} {self.image} (spec {self.spec_hash[:12]}, executor {self.executor_image},"
            f" {self.took})"
        )

    def _repr_mimebundle_(
        self, include: Sequence[str] | None = None, exclude: Sequence[str] | None = None
    ) -> MimeBundle:
        return {BUILD_MIMETYPE: self.to_json(), "text/plain": repr(self), "text/html": self.html()}

    def html(self) -> str:
        """A small table of the record."""
        rows = [
            ("image", self.image),
            ("destinations", ", ".join(self.destinations)),
            ("build", f"{self.namespace}/{self.name}"),
            ("spec hash", self.spec_hash),
            ("executor", self.executor_image),
            ("duration", self.took),
            ("finished", self.finished_at),
            ("polymagic", self.polymagic_version),
        ]
        body = "".join(
            f'<tr><th style="text-align:left;padding-right:1em">{key}</th>'
            f'<td style="text-align:left"><code>{html.escape(visible(value))}</code></td></tr>'
            for key, value in rows
        )
        return f"<table>{body}</table>"
