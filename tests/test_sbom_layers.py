"""The SBOM's reading of image layers (``polymagic.outcome.sbom_layers``) and its CycloneDX 1.6
document (``polymagic.outcome.cyclonedx``): Python distributions and Debian packages found with
their versions, licences and purls, later layers and whiteouts applied; hostile layers (a
decompression bomb, 100 000 entries, a huge METADATA, a path climbing out, a truncated or
non-tar layer, a 10 GB sparse file) end within their bounds with a warning, in bounded children."""

from __future__ import annotations

import gzip
import io
import json
import tarfile

import pytest

from polymagic.outcome.cyclonedx import sbom_document, sbom_json
from polymagic.outcome.sbom_layers import Inventory, scan_layer
from tests.hostile.bounded import run_bounded

DPKG = (
    "Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2.15-2+b7\n"
    "Description: shell\n continued line\n\n"
    "Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n\n"
    "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9\n"
)


def _layer(files: dict[str, bytes], *, compress: bool = True) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    raw = buffer.getvalue()
    return gzip.compress(raw, mtime=0) if compress else raw


def _metadata(name: str, version: str, licence: str = "") -> bytes:
    extra = f"License-Expression: {licence}\n" if licence else ""
    return f"Metadata-Version: 2.4\nName: {name}\nVersion: {version}\n{extra}\nlong text\n".encode()


SITE = "usr/local/lib/python3.11/site-packages"


def test_packages_are_found_with_versions_licences_and_purls() -> None:
    inventory = Inventory()
    first = _layer(
        {
            "var/lib/dpkg/status": DPKG.encode(),
            f"{SITE}/numpy-1.26.4.dist-info/METADATA": _metadata("numpy", "1.26.4", "BSD-3-Clause"),
            f"{SITE}/old_pkg-0.1.dist-info/METADATA": _metadata("Old_Pkg", "0.1"),
        }
    )
    second = _layer(
        {
            f"./{SITE}/.wh.old_pkg-0.1.dist-info": b"",
            f"{SITE}/requests-2.31.0.dist-info/METADATA": _metadata(
                "requests", "2.31.0", "Apache-2.0"
            ),
            "opt/legacy/thing.egg-info/PKG-INFO": _metadata("thing", "3"),
        },
        compress=False,
    )
    scan_layer(io.BytesIO(first), inventory, name="1")
    scan_layer(io.BytesIO(second), inventory, name="2")
    assert inventory.warnings == []
    assert [p.purl for p in inventory.packages()] == [
        "pkg:deb/debian/bash@5.2.15-2+b7?arch=amd64",
        "pkg:deb/debian/libc6@2.36-9?arch=amd64",
        "pkg:pypi/numpy@1.26.4",
        "pkg:pypi/requests@2.31.0",
        "pkg:pypi/thing@3",
    ]
    document = sbom_document(
        image="registry.local/team/app",
        digest="sha256:" + "a" * 64,
        packages=inventory.packages(),
        base="python:3.11-slim",
        base_digest="sha256:" + "b" * 64,
    )
    assert document["bomFormat"] == "CycloneDX"
    assert document["specVersion"] == "1.6"
    numpy = next(c for c in document["components"] if c["name"] == "numpy")
    assert numpy["licenses"] == [{"expression": "BSD-3-Clause"}]
    assert document["components"][0]["name"] == "python:3.11-slim"
    assert sbom_json(document) == sbom_json(json.loads(sbom_json(document)))  # deterministic


HOSTILE = """
import gzip, io, tarfile, json
from polymagic.outcome.sbom_layers import Inventory, LayerBounds, scan_layer
{make}
inventory = Inventory()
scan_layer(stream, inventory, name="x", bounds=LayerBounds(max_bytes=64 << 20, max_entries=50_000))
print(json.dumps({{"warnings": inventory.warnings, "count": len(inventory.packages())}}))
"""


BOMB = """
class Endless(io.RawIOBase):
    # a gzip stream of zeros that never ends: read as a tar, it is one endless entry
    def __init__(self):
        self.chunk = gzip.compress(b"\\0" * (1 << 20))
    def readable(self):
        return True
    def readinto(self, b):
        n = min(len(b), len(self.chunk))
        b[:n] = self.chunk[:n]
        return n
def members():
    info = tarfile.TarInfo("big")
    info.size = 10 << 30
    header = info.tobuf()
    return header
head = members()
class Bomb(io.RawIOBase):
    def __init__(self):
        self.z = gzip.compress(head + b"\\0" * (4 << 20), mtime=0)
        self.zeros = gzip.compress(b"\\0" * (4 << 20), mtime=0)
        self.buf = self.z
    def readable(self):
        return True
    def readinto(self, b):
        if not self.buf:
            self.buf = self.zeros
        n = min(len(b), len(self.buf))
        b[:n] = self.buf[:n]
        self.buf = self.buf[n:]
        return n
stream = io.BufferedReader(Bomb())
"""


def _tar_of(entries: str) -> str:
    return f"""
buffer = io.BytesIO()
with tarfile.open(fileobj=buffer, mode="w") as archive:
    {entries}
stream = io.BytesIO(gzip.compress(buffer.getvalue(), compresslevel=1))
"""


MANY = _tar_of(
    """for i in range(100_000):
        archive.addfile(tarfile.TarInfo(f"f/{i}"), io.BytesIO(b""))"""
)
HUGE_METADATA = _tar_of(
    """data = b"Name: x\\nVersion: 1\\n" + b"A" * (8 << 20)
    info = tarfile.TarInfo("site-packages/x-1.dist-info/METADATA")
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))"""
)
CLIMBING = _tar_of(
    """data = b"Name: evil\\nVersion: 1\\n\\n"
    info = tarfile.TarInfo("../../x-1.dist-info/METADATA")
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))"""
)
TRUNCATED = """
info = tarfile.TarInfo("var/lib/dpkg/status")
info.size = 10 << 30  # says 10 GB, holds 1 KiB
stream = io.BytesIO(gzip.compress(info.tobuf() + b"P" * 1024))
"""
NOT_TAR = "stream = io.BytesIO(gzip.compress(b'this is not a tar ' * 1000))"
SPARSE = """
def sparse_member(name, real):
    # A GNU sparse member: 512 bytes stored, at the end of a file that says it is `real` bytes.
    data = b"Name: x\\nVersion: 1\\n\\n".ljust(512, b"\\0")
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.type = tarfile.GNUTYPE_SPARSE
    header = bytearray(info.tobuf(format=tarfile.GNU_FORMAT))[:512]
    header[386:398] = tarfile.itn(real - 512, 12, tarfile.GNU_FORMAT)
    header[398:410] = tarfile.itn(512, 12, tarfile.GNU_FORMAT)
    header[482] = 0
    header[483:495] = tarfile.itn(real, 12, tarfile.GNU_FORMAT)
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\\0 " % sum(header)
    return bytes(header) + data
raw = b"".join(
    sparse_member(name, 10 << 30)
    for name in ("usr/lib/python3/dist-packages/x-1.dist-info/METADATA", "var/lib/dpkg/status")
)
stream = io.BytesIO(gzip.compress(raw + b"\\0" * 1024))
"""


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (BOMB, "more than 67,108,864 bytes decompressed"),
        (MANY, "more than 50,000 entries"),
        (HUGE_METADATA, "skipped /site-packages/x-1.dist-info/METADATA"),
        (CLIMBING, "path climbs out"),
        (TRUNCATED, "skipped /var/lib/dpkg/status"),
        (NOT_TAR, "not a readable tar"),
        (SPARSE, "skipped /usr/lib/python3/dist-packages/x-1.dist-info/METADATA"),
    ],
    ids=[
        "decompression-bomb",
        "100k-entries",
        "huge-metadata",
        "dot-dot",
        "truncated",
        "not-tar",
        "10GB-sparse",
    ],
)
def test_a_hostile_layer_ends_within_its_bounds_with_a_warning(make: str, words: str) -> None:
    result = run_bounded(HOSTILE.format(make=make), seconds=20, memory=1 << 30)
    assert not result.timed_out, result.explain()
    assert result.returncode == 0, result.explain()
    answer = json.loads(result.stdout)
    assert any(words in warning for warning in answer["warnings"]), answer
    assert answer["count"] == 0
