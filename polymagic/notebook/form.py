"""The build form: ipywidgets over a build operation, kept in sync with its YAML both ways.

Wiring only: the fields (``form_fields``: codecs and the field table), the document they edit
(``form_document``: reading values out, writing edits into a copy) and the checks
(``form_check``: polymagic's messages by field) are pure modules; this one makes the widgets,
lays them out, and on each change runs those functions and shows their answers. It never starts
a build: the Build button hands the YAML to a callback.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import html
import shlex
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import ipywidgets as widgets

from polymagic.errors import PolymagicError, SpecError
from polymagic.notebook.form_check import (
    GENERAL,
    YAML,
    FormCheck,
    check_document,
    field_for_path,
    form_errors,
    form_notes,
    namespace_problem,
    parse_operation_text,
)
from polymagic.notebook.form_document import SKELETON, merge_form_values, read_form_values
from polymagic.notebook.form_fields import FIELDS, SECTIONS, Field
from polymagic.printable import visible
from polymagic.spec.connections import ConnectionCatalog
from polymagic.spec.examples import QUICK_START
from polymagic.spec.yamltext import dump_yaml

__all__ = [
    "GENERAL",
    "QUICK_START_YAML",
    "YAML",
    "BuildCallback",
    "BuildForm",
    "FormCheck",
    "check_document",
    "field_for_path",
    "merge_form_values",
    "parse_operation_text",
    "read_form_values",
]

QUICK_START_YAML = QUICK_START
"""The README's quick-start operation: what a new form starts with."""

BuildCallback = Callable[[str, str | None], None]
"""Called by the Build button with the operation YAML and the namespace (or None)."""


# -- the widgets ---------------------------------------------------------------------------------

_COLOURS = {"error": "#b00020", "warning": "#8a6d00", "info": "#555555"}
_LABEL_STYLE = {"description_width": "8em"}
_Self = TypeVar("_Self", bound="BuildForm")
_Arg = TypeVar("_Arg")


def _message_html(level: str, text: str | None) -> str:
    if not text:
        return ""
    colour = _COLOURS[level]
    return f'<div style="color:{colour};white-space:pre-wrap">{html.escape(visible(text))}</div>'


def _preview_html(text: str | None) -> str:
    if text is None:
        return _message_html("info", "No Dockerfile yet: fix the problems in the form.")
    # The newline after <pre> is dropped by HTML, so the Dockerfile's own leading one shows.
    # Every character as the executor reads it: controls and invisible ones as escapes.
    return (
        '<pre style="font-family:monospace;margin:0;padding:4px;background:#f7f7f7">\n'
        f"{html.escape(visible(text))}</pre>"
    )


def _full_width() -> Any:
    """A widget as wide as its column. Not ``width: 100%``: a widget also has a margin, so it
    would overflow its box, which then cuts its right edge off or puts a scroll bar under it."""
    return widgets.Layout(width="auto")


def _make_widget(spec: Field, connections: ConnectionCatalog | None) -> Any:
    common: dict[str, Any] = {"description": spec.label, "style": _LABEL_STYLE}
    layout = _full_width()
    if spec.widget == "check":
        # Indented by the labels' width, its box lines up with the text boxes above and below.
        return widgets.Checkbox(value=False, indent=True, **common)
    if spec.widget == "area":
        return widgets.Textarea(placeholder=spec.placeholder, rows=3, layout=layout, **common)
    if spec.widget == "combo":
        names = tuple(connections.names()) if connections is not None else ()
        return widgets.Combobox(
            options=names, placeholder=spec.placeholder, layout=layout, **common
        )
    return widgets.Text(placeholder=spec.placeholder, layout=layout, **common)


def _never_raises(
    method: Callable[[_Self, _Arg], None],
) -> Callable[[_Self, _Arg], None]:
    """A widget callback that shows an unexpected failure in the form instead of raising it."""

    @functools.wraps(method)
    def guarded(self: _Self, argument: _Arg) -> None:
        try:
            method(self, argument)
        # A raising widget callback is lost in the browser console: show it in the form instead.
        except Exception as exc:
            self._note = ("error", f"internal error, please report it: {type(exc).__name__}: {exc}")
            self._show_messages()

    return guarded


class _FormWidgets:
    """The form's widgets and their layout: the fields in sections with a message under each,
    the namespace, the Dockerfile preview, the YAML view, the general messages, the buttons."""

    def __init__(self, connections: ConnectionCatalog | None) -> None:
        self.fields: dict[str, Any] = {s.name: _make_widget(s, connections) for s in FIELDS}
        self.namespace_field = widgets.Text(
            description="Namespace",
            placeholder="kubeconfig default",
            style=_LABEL_STYLE,
            layout=_full_width(),
        )
        # A blank label as wide as the fields' labels, so a message starts under the input;
        # hidden while empty, or its label would put a blank row under every field.
        self.field_messages: dict[str, Any] = {
            name: widgets.HTML(
                description="\u00a0", style=_LABEL_STYLE, layout=widgets.Layout(display="none")
            )
            for name in [*self.fields, "namespace"]
        }
        self.yaml_view = widgets.Textarea(rows=22, layout=_full_width())
        self.yaml_message = widgets.HTML()
        self.preview = widgets.HTML()
        self.messages = widgets.HTML()
        self.build_button = widgets.Button(description="Build", icon="play", button_style="primary")
        self.write_cell_button = widgets.Button(description="Write cell", icon="pencil")
        self.widget = self._layout()

    def _layout(self) -> Any:
        column: list[Any] = []
        for title, names in SECTIONS:
            column.append(widgets.HTML(f"<b>{html.escape(title)}</b>"))
            column += [widgets.VBox([self.fields[n], self.field_messages[n]]) for n in names]
        column += [self.namespace_field, self.field_messages["namespace"]]
        views = [
            widgets.HTML("<b>Dockerfile</b>"),
            self.preview,
            widgets.HTML("<b>Operation YAML</b>"),
            self.yaml_view,
            self.yaml_message,
        ]
        half = widgets.Layout(width="50%", padding="0 8px")
        body = widgets.HBox([widgets.VBox(column, layout=half), widgets.VBox(views, layout=half)])
        buttons = widgets.HBox([self.build_button, self.write_cell_button])
        return widgets.VBox([self.messages, body, buttons])


class BuildForm(_FormWidgets):
    """A form and a YAML view over one build operation, kept in sync both ways.

    Not a widget itself: the widget tree is ``.widget`` (a ``VBox``), which is what a notebook
    displays for the form (``_repr_mimebundle_``; ``text/plain`` is the YAML). ``fields`` holds
    the field widgets by name, ``field_messages`` the HTML under each, ``yaml_view`` the YAML
    ``Textarea``, ``preview`` the Dockerfile, ``messages`` the general message area.
    """

    def __init__(
        self,
        connections: ConnectionCatalog | None = None,
        *,
        yaml: str | None = None,
        namespace: str | None = None,
    ) -> None:
        """A form over ``yaml`` (default: the README's quick-start operation)."""
        super().__init__(connections)
        self._connections = connections
        self._callback: BuildCallback | None = None
        self._updating = False
        self._base: dict[str, Any] = copy.deepcopy(SKELETON)  # until a YAML loads
        self._document = copy.deepcopy(SKELETON)
        self._hidden: set[str] = set()
        self._input_errors: dict[str, str] = {}
        self._yaml_error: str | None = None
        self._check = FormCheck({})
        self._note: tuple[str, str] | None = None
        self._wire()
        self.namespace_field.value = namespace or ""
        self.set_yaml(QUICK_START_YAML if yaml is None else yaml)

    @classmethod
    def from_yaml(
        cls: type[_Self], text: str, connections: ConnectionCatalog | None = None
    ) -> _Self:
        """A form over the operation in ``text`` (an invalid text is shown with its error)."""
        return cls(connections, yaml=text)

    # -- public API ----------------------------------------------------------------------------

    @property
    def yaml(self) -> str:
        """The operation YAML as the YAML view holds it."""
        return str(self.yaml_view.value)

    def set_yaml(self, text: str) -> None:
        """Replace the YAML; the fields follow when it loads, else its error is shown."""
        with self._quietly():
            self.yaml_view.value = text
        self._note = None
        self._apply_yaml(text)

    def operation(self) -> dict[str, Any]:
        """The current operation as a dict (the last YAML that loaded, with the form's edits)."""
        return copy.deepcopy(self._document)

    @property
    def errors(self) -> dict[str, str]:
        """Messages by field name; ``GENERAL`` and ``YAML`` for the other two places."""
        namespace = str(self.namespace_field.value).strip()
        return form_errors(self._input_errors, self._check, namespace, self._yaml_error)

    @property
    def dockerfile_text(self) -> str | None:
        """The rendered Dockerfile of the form's init, or None when it does not validate."""
        return self._check.dockerfile

    @property
    def namespace(self) -> str | None:
        """The namespace field, or None when empty."""
        return str(self.namespace_field.value).strip() or None

    def on_build(self, callback: BuildCallback) -> None:
        """Call ``callback(yaml, namespace)`` when the Build button is clicked."""
        self._callback = callback

    def cell_text(self) -> str:
        """A ``%%polybuild`` cell holding the operation YAML."""
        magic = "%%polybuild"
        if self.namespace:
            magic += f" --namespace {shlex.quote(self.namespace)}"
        return f"{magic}\n{self.yaml}"

    def write_cell(self) -> None:
        """Put ``cell_text()`` into a new cell below, when running under IPython."""
        from IPython import get_ipython  # the UI layer only; not needed to build the form

        shell = get_ipython()
        if shell is None:
            self._note = ("warning", "no IPython session: copy the text of `form.cell_text()`")
        else:
            shell.set_next_input(self.cell_text(), replace=False)
            self._note = ("info", "a %%polybuild cell with this operation was added below")
        self._show_messages()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = self.yaml
        return bundle

    # -- wiring the widgets -------------------------------------------------------------------

    def _wire(self) -> None:
        for widget in self.fields.values():
            widget.observe(self._on_field_change, names="value")
        self.namespace_field.observe(self._on_namespace_change, names="value")
        self.yaml_view.observe(self._on_yaml_change, names="value")
        self.build_button.on_click(self._on_build_click)
        self.write_cell_button.on_click(self._on_write_cell_click)

    # -- keeping the two views in sync -----------------------------------------------------------

    @contextlib.contextmanager
    def _quietly(self) -> Iterator[None]:
        """Set widget values without their observers reacting (no feedback loop)."""
        self._updating = True
        try:
            yield
        finally:
            self._updating = False

    @_never_raises
    def _on_field_change(self, change: dict[str, Any]) -> None:
        if self._updating:
            return
        self._note = None
        values = {name: widget.value for name, widget in self.fields.items()}
        self._document, self._input_errors = merge_form_values(self._base, values, self._hidden)
        self._yaml_error = None
        with self._quietly():
            self.yaml_view.value = dump_yaml(self._document)
        self._refresh()

    @_never_raises
    def _on_yaml_change(self, change: dict[str, Any]) -> None:
        if self._updating:
            return
        self._note = None
        self._apply_yaml(str(change["new"]))

    @_never_raises
    def _on_namespace_change(self, change: dict[str, Any]) -> None:
        if not self._updating:
            self._refresh()

    def _apply_yaml(self, text: str) -> None:
        try:
            document = parse_operation_text(text)
        except SpecError as exc:
            self._yaml_error = str(exc)  # the form keeps its values
            self._refresh()
            return
        self._yaml_error = None
        self._base = document
        self._document = copy.deepcopy(document)
        self._input_errors = {}
        self._show_document(document)
        self._refresh()

    def _show_document(self, document: Mapping[str, Any]) -> None:
        values, self._hidden = read_form_values(document)
        with self._quietly():
            for name, value in values.items():
                widget = self.fields[name]
                widget.value = value
                widget.disabled = name in self._hidden

    # -- showing the state ---------------------------------------------------------------------

    def _refresh(self) -> None:
        namespace = self.namespace
        if namespace is not None and namespace_problem(namespace):
            namespace = None
        self._check = check_document(self._document, self._connections, namespace)
        errors = self.errors
        for name, message in self.field_messages.items():
            message.value = _message_html("error", errors.get(name))
            message.layout.display = None if message.value else "none"
        self.yaml_message.value = _message_html("error", errors.get(YAML))
        self.preview.value = _preview_html(self._check.dockerfile)
        self.build_button.disabled = bool(errors)
        self._show_messages()

    def _show_messages(self) -> None:
        notes = form_notes(self.errors, self._note, self._check, self._document, self._hidden)
        self.messages.value = "".join(_message_html(level, text) for level, text in notes)

    # -- buttons -------------------------------------------------------------------------------

    @_never_raises
    def _on_build_click(self, button: Any) -> None:
        if self.errors:
            self._note = ("error", "fix the problems shown in the form before building")
        elif self._callback is None:
            self._note = ("warning", "nothing is set to run builds from this form (`on_build`)")
        else:
            self._note = None
            try:
                self._callback(self.yaml, self.namespace)
            # Any failure: the user sees it here, as a widget callback must not raise.
            except Exception as exc:
                shown = str(exc)
                if not isinstance(exc, PolymagicError):
                    shown = f"{type(exc).__name__}: {exc}"
                self._note = ("error", f"the build failed: {shown}")
        self._show_messages()

    @_never_raises
    def _on_write_cell_click(self, button: Any) -> None:
        self.write_cell()
