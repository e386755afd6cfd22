"""Reading what the user asked an installer for from the kernel's input history."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from polymagic.app.freeze_asked import REQUIREMENTS_FILE_LIMIT, asked_for

# Each cell as IPython's ``_ih`` holds it (transformed) or as typed (raw), and what it asks for.
CELLS = [
    pytest.param("get_ipython().run_line_magic('pip', 'install requests')", {"requests"},
                 id="%pip"),
    pytest.param('%pip install -q "numpy>=1" pandas[excel] --index-url https://i.example/simple',
                 {"numpy", "pandas"}, id="%pip-raw-options"),
    pytest.param("get_ipython().system('pip3 install -U SciPy==1.11 && echo done')", {"scipy"},
                 id="!pip3-and"),
    pytest.param("get_ipython().system('{sys.executable} -m pip install tqdm')", {"tqdm"},
                 id="!python-m-pip"),
    pytest.param("!/usr/bin/python3.11 -m pip --quiet install Foo_Bar", {"foo-bar"},
                 id="python-path-options-before-install"),
    pytest.param("x = get_ipython().getoutput('pip install rich')", {"rich"}, id="x=!!pip"),
    pytest.param("get_ipython().run_line_magic('conda', 'install -c conda-forge xarray=2024.1"
                 " conda-forge::dask -y')", {"xarray", "dask"}, id="%conda"),
    pytest.param("get_ipython().run_line_magic('mamba', 'install polars')", {"polars"},
                 id="%mamba"),
    pytest.param("get_ipython().run_cell_magic('bash', '', 'cd /tmp\\npip install click\\n')",
                 {"click"}, id="%%bash"),
    pytest.param("get_ipython().run_cell_magic('capture', '', '%pip install httpx\\n')",
                 {"httpx"}, id="%%capture-%pip"),
    pytest.param("%%capture\n!pip install anyio\nprint('pip install not-this')", {"anyio"},
                 id="%%capture-raw"),
    pytest.param("import subprocess, sys\n"
                 "subprocess.check_call([sys.executable, '-m', 'pip', 'install', 'lxml'])",
                 {"lxml"}, id="subprocess-list"),
    pytest.param("import os\nos.system('pip install toolz')", {"toolz"}, id="os.system"),
    pytest.param("get_ipython().system('uv pip install msgpack')", {"msgpack"}, id="uv-pip"),
    pytest.param("!pip install git+https://example.com/r.git#egg=from_vcs ./local /abs/path .",
                 {"from-vcs"}, id="urls-and-paths"),
    pytest.param("!pip install ./dist/wheelie-2.0-py3-none-any.whl sdisty-1.0.tar.gz",
                 {"wheelie", "sdisty"}, id="files"),
    pytest.param("%pip install named @ https://example.com/named-1.0-py3-none-any.whl",
                 {"named"}, id="name-at-url"),
    pytest.param("%pip install -e ./mine -c constraints.txt", set(), id="editable-constraint"),
    pytest.param("x = 'pip install nothing'\n# pip install nothing\nprint('!pip install no')",
                 set(), id="not-commands"),
    pytest.param("get_ipython().run_line_magic('pip', 'list')", set(), id="%pip-list"),
    pytest.param("%%polybuild\nrun: ['pip install -r requirements.txt']", set(), id="%%polybuild"),
    pytest.param('!pip install "unclosed', set(), id="unclosed-quote"),
]  # fmt: skip


@pytest.mark.parametrize(("cell", "expected"), CELLS)
def test_each_form_of_install_command_names_what_it_asks_for(
    cell: str, expected: set[str], tmp_path: Path
) -> None:
    assert asked_for(["", cell], tmp_path) == expected


def test_requirements_files_are_read_nested_and_relative(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "reqs.txt").write_text(
        "attrs>=23 ; python_version > '3'  # pinned elsewhere\n"
        "--index-url https://i.example/simple\n"
        "-r sub/more.txt\n"
        "-c constraints.txt\n"
        "-e ./editable\n"
        "long-\\\nname==1\n"
    )
    (tmp_path / "sub" / "more.txt").write_text("Six\n--requirement=../last.txt\n")
    (tmp_path / "last.txt").write_text("cattrs\n")
    (tmp_path / "constraints.txt").write_text("never\n")
    cells = ["get_ipython().run_line_magic('pip', 'install -r reqs.txt')"]
    assert asked_for(cells, tmp_path) == {"attrs", "six", "cattrs", "long-name"}


def test_requirements_files_are_bounded_and_never_block(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_text("big\n" + "#" * REQUIREMENTS_FILE_LIMIT)
    (tmp_path / "loop.txt").write_text("looped\n-r loop.txt\n")
    os.mkfifo(tmp_path / "fifo.txt")  # opening it for reading would wait for a writer
    cells = [
        "%pip install -r big.txt -r fifo.txt -r /dev/zero -r missing.txt -r loop.txt",
        "%pip install -r https://example.com/remote.txt",
    ]
    assert asked_for(cells, tmp_path) == {"looped"}
    # Without a folder nothing is read at all.
    assert asked_for(cells, None) == set()
