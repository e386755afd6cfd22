"""``%polybuild inspect IMAGE``: what an image in a registry says about itself, as a table in
the notebook (and aligned text where there is no HTML). The reading is the app's
(``polymagic.app.inspect_image``), the same as ``polymagic inspect``'s; a registry given with
``--insecure-registry`` / ``--skip-tls-verify-registry`` is read over plain HTTP / without
checking its certificate, as a build would push to it."""

from __future__ import annotations

import argparse
import html
from collections.abc import Sequence
from typing import Any

from polymagic.app.inspect_image import (
    AttachedSbom,
    attachments,
    details_lines,
    details_rows,
    inspect_image,
)
from polymagic.errors import UsageError
from polymagic.printable import visible
from polymagic.registry.image_reading import ImageDetails

__all__ = ["InspectView", "inspect_line"]


class InspectView:
    """An image's details, shown as a table."""

    def __init__(self, details: ImageDetails, attached: Sequence[AttachedSbom] = ()) -> None:
        self.details = details
        self.attached = tuple(attached)

    def __repr__(self) -> str:
        return "\n".join(visible(line) for line in details_lines(self.details, self.attached))

    def _repr_mimebundle_(
        self, include: Sequence[str] | None = None, exclude: Sequence[str] | None = None
    ) -> dict[str, Any]:
        return {"text/plain": repr(self), "text/html": self.html()}

    def html(self) -> str:
        """The rows as an HTML table, every value escaped and its hidden characters shown."""
        body = "".join(
            f'<tr><th style="text-align:left;padding-right:1em">{html.escape(visible(what))}</th>'
            f'<td style="text-align:left"><code>{html.escape(visible(value))}</code></td></tr>'
            for what, value in details_rows(self.details, self.attached)
        )
        return f"<table>{body}</table>"


def inspect_line(words: list[str], args: Any) -> InspectView:
    """``%polybuild inspect IMAGE``: the image's details, read now."""
    if len(words) != 1:
        raise UsageError("usage: %polybuild inspect IMAGE (registry/repository[:tag][@sha256:...])")
    from polymagic.registry import ImageReference

    host = ImageReference.parse(words[0]).host
    asked = argparse.Namespace(
        image=words[0],
        insecure=host in (getattr(args, "insecure_registry", None) or ()),
        skip_tls_verify=host in (getattr(args, "skip_tls_verify_registry", None) or ()),
        ca_file=None,
        platform="linux/amd64",
        registry_timeout=20.0,
    )
    details = inspect_image(asked)
    return InspectView(details, attachments(details, asked))
