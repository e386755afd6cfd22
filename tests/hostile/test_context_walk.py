"""Hostile build context folders: a huge number of entries, a very deep tree, a sparse file of
many gigabytes, and a file swapped for a FIFO while it is being packed.

Each case ends well inside the child's bound (10 s, 1 GiB) with exit status 2 and one line on
stderr, or with a clear error from the packer.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from polymagic.render.context import MAX_DEPTH, MAX_ENTRIES
from tests.hostile.bounded import run_bounded, run_cli_bounded
from tests.hostile.test_context_dockerignore import one_error_line, write_operation


@pytest.mark.slow
def test_a_folder_with_too_many_entries_stops_at_the_bound(tmp_path: Path) -> None:
    for n in range(MAX_ENTRIES // 1000 + 1):  # 101 folders of 1,000 empty files
        folder = tmp_path / f"d{n:03d}"
        folder.mkdir()
        for k in range(1000):
            os.close(os.open(folder / f"{k:04d}", os.O_CREAT | os.O_WRONLY, 0o644))
    argv = write_operation(tmp_path, ["."])

    line = one_error_line(run_cli_bounded(argv))

    assert f"has more than {MAX_ENTRIES:,} files and folders under the COPY sources" in line


@pytest.fixture
def deep_tree(tmp_path: Path) -> Iterator[Path]:
    """1,900 nested folders, about as deep as PATH_MAX allows (built and removed without
    recursion, which Python's own helpers use)."""
    folders = [tmp_path / ("a/" * depth).rstrip("/") for depth in range(1, 1901)]
    for folder in folders:
        folder.mkdir()
    yield tmp_path
    for folder in reversed(folders):
        folder.rmdir()


def test_a_very_deep_tree_stops_at_the_bound(deep_tree: Path) -> None:
    (deep_tree / ".dockerignore").write_text("*.pyc\n**/b\n!a/a/keep\n")
    argv = write_operation(deep_tree, ["."])

    line = one_error_line(run_cli_bounded(argv))

    assert f"`a/a/a/...` in {deep_tree} is more than {MAX_DEPTH} folders deep" in line


def test_a_sparse_file_of_many_gigabytes_is_refused_unread(tmp_path: Path) -> None:
    with (tmp_path / "disk.img").open("wb") as handle:
        handle.truncate(23 << 30)
    argv = write_operation(tmp_path, ["."])

    result = run_cli_bounded(argv)

    line = one_error_line(result)
    assert "more than fits in a ConfigMap" in line
    assert "largest files: disk.img (24.7 GB)" in line
    # Reading it would take seconds: zeros compress about 1000:1, so some 800 MB would be read
    # before the archive passed its limit.
    assert result.cpu_seconds < 3, result.explain()


SWAP_FOR_A_FIFO = """
import os, sys
from pathlib import Path
from polymagic.render import context, context_walk
from polymagic.errors import SpecError

base = Path(sys.argv[1])
walked = context_walk.Packer.with_parents

def then_swap(packer):
    entries = walked(packer)
    os.remove(base / "data.txt")
    os.mkfifo(base / "data.txt")  # opening it to read would wait for a writer forever
    return entries

context_walk.Packer.with_parents = then_swap
try:
    context.pack_context(base, ["."], {})
except SpecError as error:
    print(error)
"""


def test_a_file_swapped_for_a_fifo_while_packing_does_not_block(tmp_path: Path) -> None:
    (tmp_path / "data.txt").write_text("data")

    result = run_bounded(SWAP_FOR_A_FIFO.replace("sys.argv[1]", repr(str(tmp_path))))

    assert not result.timed_out, result.explain()
    assert result.returncode == 0, result.explain()
    assert result.stdout.startswith(f"`data.txt` in {tmp_path} changed while the build context")
