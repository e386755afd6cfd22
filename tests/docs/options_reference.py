"""docs/options.md, made from the one settings schema (``polymagic.setting_schema``) and the
options both front ends declare (``polymagic.app.arguments``), so the reference cannot drift
from the code: ``tests/docs/test_docs.py`` fails when the committed page differs.

    python -m tests.docs.options_reference > docs/options.md
"""

from __future__ import annotations

import sys

from polymagic.app.arguments import BUILD_OPTIONS, CONTEXT, EXECUTOR_OPTIONS, Option
from polymagic.app.settings import user_settings_path
from polymagic.setting_schema import SETTINGS, Kind

__all__ = ["options_markdown"]


def _default(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, float):
        return f"`{value:g}`"
    return f"`{value}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _option_row(item: Option) -> str:
    flags = ", ".join(f"`{f}`" for f in item.flags)
    metavar = item.settings.get("metavar")
    if metavar and not item.flags[0].startswith("-P"):
        flags += f" {metavar}"
    return f"| {flags} | {_cell(str(item.settings.get('help', '')))} |"


def options_markdown() -> str:
    """The whole page, as Markdown."""
    home = str(user_settings_path()).replace(str(user_settings_path().home()), "~")
    lines = [
        "# Options and settings",
        "",
        "<!-- Made by `python -m tests.docs.options_reference > docs/options.md`; do not edit. -->",
        "",
        "## Settings",
        "",
        "Each setting is declared once, in `polymagic/setting_schema.py`. Its value comes from,",
        "each overriding the one before: the built-in default; `[tool.polymagic]` in the",
        "project's nearest `pyproject.toml`; your own settings file"
        f" (`{home}`, same keys); the `POLYMAGIC_<NAME>` environment variable;",
        "then `%config PolyBuildMagics.<name>` in a notebook, and an option on the command line",
        "or the magic's line. Settings marked *trusted only* decide which image or Secret a build",
        "uses: a project file sets them only after `polymagic trust`.",
        "",
        "| setting | type | default | variable | project file | what it does |",
        "|---|---|---|---|---|---|",
    ]
    kinds = {
        Kind.TEXT: "text",
        Kind.SECONDS: "seconds",
        Kind.FLAG: "true/false",
        Kind.VIEWS: "views",
    }
    for item in SETTINGS:
        where = "trusted only" if item.steers_credentials else "yes"
        lines.append(
            f"| `{item.name}` | {kinds[item.kind]} | {_default(item.default)} |"
            f" `{item.variable}` | {where} | {_cell(item.help)} |"
        )
    lines += [
        "",
        "## `polymagic build` and `%%polybuild`",
        "",
        "Both take these options (`%polybuild build FILE` too); an option left out takes the",
        "setting of the same name.",
        "",
        "| option | what it does |",
        "|---|---|",
        *(_option_row(o) for o in (*BUILD_OPTIONS, CONTEXT)),
        "",
        f"## {EXECUTOR_OPTIONS.title[0].upper()}{EXECUTOR_OPTIONS.title[1:]}",
        "",
        "| option | what it does |",
        "|---|---|",
        *(_option_row(o) for o in EXECUTOR_OPTIONS.options),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(options_markdown())
