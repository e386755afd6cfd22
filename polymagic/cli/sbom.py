"""``polymagic sbom IMAGE``: the exact SBOM of an image in a registry (CycloneDX 1.6 JSON, made
from its layers) to stdout or a file, and with ``--attach`` pushed next to the image."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from polymagic.app.sbom_command import attach_sbom, image_sbom
from polymagic.printable import printable

__all__ = ["sbom"]


def sbom(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    made = image_sbom(args)
    for warning in made.warnings:
        err.write(f"polymagic: warning: {printable(warning)}\n")
    if args.output:
        Path(args.output).write_bytes(made.body)
        err.write(
            f"polymagic: wrote {args.output}: {len(made.document['components'])} components\n"
        )
    else:
        out.write(made.body.decode("utf-8"))
    if args.attach:
        where = attach_sbom(made, args)
        err.write(f"polymagic: attached the SBOM of {made.image} as {printable(where)}\n")
    return 0
