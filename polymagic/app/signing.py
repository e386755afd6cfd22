"""``--sign KEY`` (setting ``sign_key``): the pushed image and the SBOM and provenance attached
to it, signed by ``cosign sign --key KEY`` with the user's own key.

polymagic holds no key and no signing code: it runs ``cosign`` when it is on PATH (checked
before a build is submitted, :func:`check_cosign`), one process per digest under a deadline,
without uploading to a public transparency log (``--tlog-upload=false``: the user decides where
their signatures go). ``COSIGN_PASSWORD`` and the registry login are cosign's, from the user's
environment. A signature that cannot be made is a warning after a successful build.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence

from polymagic.errors import UsageError

__all__ = ["SIGN_TIMEOUT", "check_cosign", "sign_digests"]

SIGN_TIMEOUT = 120.0
"""Seconds each ``cosign sign`` may take."""


def check_cosign() -> str:
    """The path of ``cosign``; a :class:`UsageError` saying what to do when it is not on PATH."""
    found = shutil.which("cosign")
    if found is None:
        raise UsageError(
            "--sign / setting `sign_key`: `cosign` is not on PATH; install cosign"
            " (https://docs.sigstore.dev/cosign/system_config/installation/) or build without"
            " --sign"
        )
    return found


def sign_digests(key: str, references: Sequence[str], *, insecure: bool) -> list[str]:
    """Sign each ``host/repository@sha256:…`` with ``cosign sign --key key``; one line each."""
    try:
        cosign = check_cosign()
    except UsageError as error:
        return [f"warning: not signed: {error}"]
    lines: list[str] = []
    for reference in references:
        argv = [cosign, "sign", "--key", key, "--yes", "--tlog-upload=false"]
        if insecure:
            argv.append("--allow-insecure-registry")
        try:
            done = subprocess.run(
                [*argv, reference],
                capture_output=True,
                text=True,
                timeout=SIGN_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            lines.append(f"warning: {reference} not signed: {error}")
            continue
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1][:300]
            lines.append(f"warning: {reference} not signed: cosign said: {last}")
        else:
            lines.append(f"signed {reference} with cosign")
    return lines
