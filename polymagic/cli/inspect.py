"""``polymagic inspect IMAGE``: what an image in a registry says about itself (its manifest,
config, annotations and labels), as aligned text or ``-o json``. Exit status 0 when
everything was read, 1 when the registry's answers stopped the reading (what was read is
still printed, and why not more on stderr)."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from polymagic.app.inspect_image import attachments, details_lines, inspect_image
from polymagic.printable import printable, visible

__all__ = ["inspect"]


def inspect(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    details = inspect_image(args)
    attached = attachments(details, args)
    if args.output == "json":
        shown = details.as_json()
        for item in attached:
            shown[item.kind] = {
                "reference": item.reference,
                "attached": item.found,
                "way": item.way,
                "components": item.components if item.kind == "sbom" else None,
                "subjectIsThisImage": item.verified,
                "note": item.note or None,
            }
        out.write(json.dumps(shown, indent=2, sort_keys=True) + "\n")
    else:
        for line in details_lines(details, attached):
            out.write(visible(line) + "\n")
    if details.reason:
        err.write(
            f"polymagic: could not read all of {details.reference}: {printable(details.reason)}\n"
        )
        return 1
    status = 0
    for item in attached:
        if item.found and not item.verified:
            err.write(
                f"polymagic: the {item.kind} attached to {details.reference} is not about it:"
                f" {printable(item.note)}\n"
            )
            status = 1
    return status
