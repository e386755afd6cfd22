"""``--allow-pod-field NAME``: the option that lets an operation's widening pod fields through.

Declared once here for every front end (the command line's ``build`` and ``render``, the
magic's parser); :func:`allowed_pod_fields` reads it back from parsed options, so a parser
without it (the magic before it is wired) allows nothing. What the fields are and the check
itself live in :mod:`polymagic.render.pod_fields`.
"""

from __future__ import annotations

import argparse

from polymagic.app.arguments import option
from polymagic.render.pod_fields import WIDENING

__all__ = ["ALLOW_POD_FIELD", "allowed_pod_fields"]

ALLOW_POD_FIELD = option(
    "--allow-pod-field",
    dest="allow_pod_field",
    action="append",
    default=[],
    choices=tuple(WIDENING),
    metavar="NAME",
    help=(
        "let the operation set this pod field, refused otherwise because it widens what the"
        f" build can reach (repeatable): {', '.join(WIDENING)}"
    ),
)


def allowed_pod_fields(args: argparse.Namespace) -> tuple[str, ...]:
    """The fields ``--allow-pod-field`` named in ``args`` (none when the parser lacks it)."""
    return tuple(dict.fromkeys(getattr(args, "allow_pod_field", None) or ()))
