"""``polymagic inspect IMAGE``: what an image in a registry says about itself (its manifest,
config, annotations and labels), as aligned text or ``-o json``. Exit status 0 when
everything was read, 1 when the registry's answers stopped the reading (what was read is
still printed, and why not more on stderr)."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from polymagic.app.inspect_image import attached_sbom, details_lines, inspect_image
from polymagic.printable import printable, visible

__all__ = ["inspect"]


def inspect(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    details = inspect_image(args)
    sbom = attached_sbom(details, args) if not details.reason else None
    if args.output == "json":
        shown = details.as_json()
        if sbom is not None:
            shown["sbom"] = {
                "reference": sbom.reference,
                "attached": sbom.found,
                "components": sbom.components,
                "subjectIsThisImage": sbom.verified,
                "note": sbom.note or None,
            }
        out.write(json.dumps(shown, indent=2, sort_keys=True) + "\n")
    else:
        for line in details_lines(details, sbom):
            out.write(visible(line) + "\n")
    if details.reason:
        err.write(
            f"polymagic: could not read all of {details.reference}: {printable(details.reason)}\n"
        )
        return 1
    if sbom is not None and sbom.found and not sbom.verified:
        err.write(
            f"polymagic: the SBOM attached to {details.reference} is not about it: {printable(sbom.note)}\n"
        )
        return 1
    return 0
