"""Tests of ``polymagic.render.context``: COPY sources, the reproducible archive, the files it leaves
out by default, its listing, its bounds, races while packing, and its errors; and, against the
test cluster, a ``tar://`` context that the simulated node unpacks from a ConfigMap's
``binaryData``."""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from polymagic.cli.main import main
from polymagic.errors import SpecError
from polymagic.render import context, context_walk
from polymagic.render.context import (
    ArchiveEntry,
    PackedContext,
    context_sources,
    default_archive_limit,
    pack_context,
    parse_dockerignore,
)
from polymagic.render.manifests import CONFIGMAP_LIMIT
from polymagic.spec.models import DockerfileInit
from tests.cluster.simulated_node import (
    NO_DOCKERFILE_ERROR,
    KanikoArgs,
    KanikoRun,
    Scenario,
    ScenarioOptions,
    SimulatedNode,
    read_tar_context,
)
from tests.data import REGISTRY, SEED

DOCKERFILE = (
    "\nFROM python:3.11-slim\n\nWORKDIR /code\n\nCOPY requirements.txt /code\nRUN echo ok\n"
)


def write_tree(base: Path, files: dict[str, str | bytes]) -> Path:
    """Create ``files`` (relative path → content) under ``base``."""
    for name, content in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return base


def members(packed: PackedContext) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(packed.data), mode="r:gz") as archive:
        return archive.getmembers()


def contents(packed: PackedContext) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(packed.data), mode="r:gz") as archive:
        return {
            m.name: archive.extractfile(m).read()  # type: ignore[union-attr]
            for m in archive.getmembers()
            if m.isfile()
        }


# --------------------------------------------------------------------------- COPY sources


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"copy": ["requirements.txt"]}, ["requirements.txt"]),
        ({"copy": [["src", "/app/src"]], "postRunCopy": ["post.sh"]}, ["src", "post.sh"]),
        ({"workdirPath": "."}, ["."]),
        ({"copy": ["a.txt b.txt"]}, ["a.txt", "b.txt"]),
        ({"copy": [["--chown=1000 app", "/app"]]}, ["app"]),
        ({"copy": [["--from=builder /out", "/app"]]}, []),
        ({"copy": ["x", ["x", "/y"]], "workdirPath": "x"}, ["x"]),
        ({"copy": "{{ files }}"}, []),
    ],
    ids=[
        "bare",
        "pair-and-post-run",
        "workdir-path",
        "space-splits",
        "flag",
        "from-stage",
        "dedup",
        "ref",
    ],
)
def test_context_sources_are_what_the_copy_lines_read(
    spec: dict[str, Any], expected: list[str]
) -> None:
    assert context_sources(DockerfileInit.model_validate({"image": "a:1", **spec})) == expected


# --------------------------------------------------------------------------- the archive


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A notebook folder with code, data and a .dockerignore."""
    return write_tree(
        tmp_path / "project",
        {
            "requirements.txt": "polyaxon\n",
            "src/app/main.py": "print('hi')\n",
            "src/app/cache.pyc": b"\x00",
            "src/run.sh": "#!/bin/sh\n",
            "data/big.bin": b"\x01" * 100,
            "data/keep.txt": "keep\n",
            "notes.md": "# notes\n",
            ".dockerignore": "**/*.pyc\ndata\n!data/keep.txt\n",
        },
    )


def test_archive_holds_the_sources_with_parents_sorted_and_the_dockerfile(project: Path) -> None:
    packed = pack_context(project, ["requirements.txt", "src/app", "data"], {"Dockerfile": "x"})

    assert packed.files == (
        "Dockerfile",
        "data",
        "data/keep.txt",
        "requirements.txt",
        "src",
        "src/app",
        "src/app/main.py",
    )
    assert [m.name for m in members(packed)] == list(packed.files)
    assert contents(packed)["Dockerfile"] == b"x"
    assert packed.size == len(packed.data)


def test_whole_folder_source_honours_dockerignore_and_generated_files_win(project: Path) -> None:
    (project / "Dockerfile").write_text("the user's own")
    packed = pack_context(project, ["."], {"Dockerfile": DOCKERFILE})

    assert packed.files == (
        ".dockerignore",
        "Dockerfile",
        "data",
        "data/keep.txt",
        "notes.md",
        "requirements.txt",
        "src",
        "src/app",
        "src/app/main.py",
        "src/run.sh",
    )
    assert contents(packed)["Dockerfile"] == DOCKERFILE.encode()


def test_generated_files_are_kept_even_when_ignored(project: Path) -> None:
    ignore = parse_dockerignore("Dockerfile\n.dockerignore\nsub")
    packed = pack_context(
        project, [], {"Dockerfile": "x", ".dockerignore": "y", "sub/f": b"z"}, dockerignore=ignore
    )

    assert packed.files == (".dockerignore", "Dockerfile", "sub", "sub/f")


def test_headers_are_normalised(project: Path) -> None:
    (project / "src/run.sh").chmod(0o700)
    (project / "requirements.txt").chmod(0o600)
    packed = pack_context(project, ["src", "requirements.txt"], {})

    modes = {m.name: (m.mode, m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members(packed)}
    assert modes["src/run.sh"] == (0o755, 0, 0, 0, "", "")
    assert modes["requirements.txt"] == (0o644, 0, 0, 0, "", "")
    assert modes["src/app"] == (0o755, 0, 0, 0, "", "")
    # gzip header: no file name flag, mtime 0
    assert packed.data[3] == 0
    assert packed.data[4:8] == b"\x00\x00\x00\x00"


def _touch_everything(base: Path, when: float) -> None:
    for root, dirs, files in os.walk(base):
        for name in dirs + files:
            os.utime(Path(root) / name, (when, when))


def test_same_files_give_the_same_bytes(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {"b.txt": "b", "a/x.py": "x", "a/y.sh": "y", "c/d/e": "e"}
    first = write_tree(tmp_path / "one", files)
    _touch_everything(first, 1_000_000)
    old_umask = os.umask(0o077)
    try:  # other creation order, permissions, mtimes
        second = write_tree(tmp_path / "two", dict(reversed(files.items())))
    finally:
        os.umask(old_umask)
    _touch_everything(second, time.time())
    (first / "a/y.sh").chmod(0o755)
    (second / "a/y.sh").chmod(0o711)
    sources = ["a", "b.txt", "c"]

    one = pack_context(first, sources, {"Dockerfile": DOCKERFILE})
    two = pack_context(second, list(reversed(sources)), {"Dockerfile": DOCKERFILE})

    assert one.data == two.data
    assert one.sha256 == two.sha256
    (second / "c/d/e").write_text("changed")
    assert pack_context(second, sources, {"Dockerfile": DOCKERFILE}).sha256 != one.sha256


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("*.txt", (".hidden.txt", "a.txt", "b.txt")),
        (
            "src/*/data?.csv",
            ("src", "src/one", "src/one/data1.csv", "src/two", "src/two/data2.csv"),
        ),
        ("[ab].txt", ("a.txt", "b.txt")),
        ("/a.txt", ("a.txt",)),
        ("src/../a.txt", ("a.txt",)),
    ],
    ids=["star-matches-dotfiles", "nested", "class", "leading-slash", "dot-dot-inside"],
)
def test_copy_wildcards_match_like_docker(
    tmp_path: Path, source: str, expected: tuple[str, ...]
) -> None:
    write_tree(
        tmp_path,
        {
            "a.txt": "",
            "b.txt": "",
            ".hidden.txt": "",
            "c.md": "",
            "src/one/data1.csv": "",
            "src/one/data10.csv": "",
            "src/two/data2.csv": "",
        },
    )

    assert pack_context(tmp_path, [source], {}).files == expected


# --------------------------------------------------------------------------- symbolic links


def test_links_inside_the_context_are_kept_as_links_with_their_targets(tmp_path: Path) -> None:
    write_tree(tmp_path, {"real/config.yaml": "a: 1", "lib/util.py": "", "other.txt": ""})
    (tmp_path / "config.yaml").symlink_to("real/config.yaml")
    (tmp_path / "lib/absolute").symlink_to(tmp_path / "other.txt")
    (tmp_path / "alias").symlink_to("real", target_is_directory=True)

    packed = pack_context(tmp_path, ["config.yaml", "lib", "alias/config.yaml"], {})

    links = {m.name: m.linkname for m in members(packed) if m.issym()}
    assert links == {
        "config.yaml": "real/config.yaml",
        "lib/absolute": "../other.txt",
        "alias": "real",
    }
    assert packed.files == (
        "alias",
        "config.yaml",
        "lib",
        "lib/absolute",
        "lib/util.py",
        "other.txt",
        "real",
        "real/config.yaml",
    )


def test_a_link_out_of_the_context_is_an_error_unless_ignored(tmp_path: Path) -> None:
    outside = write_tree(tmp_path / "outside", {"secret": "s"})
    project = write_tree(tmp_path / "project", {"app.py": ""})
    (project / "leak").symlink_to(outside / "secret")

    with pytest.raises(SpecError, match=r"`leak` .* symbolic link to .* outside the build context"):
        pack_context(project, ["."], {})
    ignore = parse_dockerignore("leak")
    assert pack_context(project, ["."], {}, dockerignore=ignore).files == ("app.py",)


# --------------------------------------------------------------------------- errors


def test_missing_source_says_where_it_must_be(project: Path) -> None:
    message = (
        f"COPY source `nope.txt` not found in {project}: it must be inside the build context"
        " folder (the notebook's folder, or --context DIR)"
    )
    with pytest.raises(SpecError, match=r"COPY source `nope\.txt` not found") as caught:
        pack_context(project, ["nope.txt"], {})
    assert str(caught.value) == message
    with pytest.raises(SpecError, match=r"`src/\*\.txt` not found"):
        pack_context(project, ["src/*.txt"], {})


@pytest.mark.parametrize("source", ["../x", "..", "src/../../x"])
def test_source_escaping_the_context_is_an_error(project: Path, source: str) -> None:
    with pytest.raises(SpecError, match=f"`{source}` is outside the build context"):
        pack_context(project, [source], {})


def test_source_excluded_by_dockerignore_is_an_error(project: Path) -> None:
    with pytest.raises(SpecError, match=r"`notes\.md` is excluded by .*\.dockerignore"):
        pack_context(project, ["notes.md"], {}, dockerignore=parse_dockerignore("*.md"))


@pytest.mark.parametrize("name", ["../Dockerfile", "/Dockerfile", "a/./b", ""])
def test_generated_file_names_must_stay_inside(project: Path, name: str) -> None:
    with pytest.raises(SpecError, match="plain relative path"):
        pack_context(project, [], {name: "x"})


def test_archive_over_the_limit_suggests_git_or_object_store(project: Path) -> None:
    (project / "model.bin").write_bytes(os.urandom(20_000))

    with pytest.raises(SpecError, match="more than fits in a ConfigMap") as caught:
        pack_context(project, ["."], {}, limit=4_000)

    message = str(caught.value)
    assert "more than fits in a ConfigMap" in message
    assert "`git` init" in message
    assert "object-store context" in message
    assert "model.bin (20.0 KB)" in message
    assert "\n" not in message


def test_default_limit_fits_a_configmap_once_base64_encoded() -> None:
    limit = default_archive_limit()

    assert len(base64.b64encode(bytes(limit))) <= CONFIGMAP_LIMIT
    assert len(base64.b64encode(bytes(limit + 3))) > CONFIGMAP_LIMIT


# --------------------------------------------------------------------------- left out by default

SECRETS = {
    ".env": "SECRET-env",
    ".env.local": "SECRET-env-local",
    ".git/HEAD": "SECRET-git",
    ".ssh/id_rsa": "SECRET-ssh",
    "certs/server.pem": "SECRET-pem",
    "tls.key": "SECRET-key",
    "id_rsa.pub": "SECRET-rsa-pub",
    "keys/id_ed25519": "SECRET-ed25519",
    ".docker/config.json": "SECRET-docker",
    ".kube/config": "SECRET-kube",
    ".aws/credentials": "SECRET-aws",
    ".netrc": "SECRET-netrc",
    ".npmrc": "SECRET-npmrc",
    ".pypirc": "SECRET-pypirc",
    "sub/.env": "SECRET-sub-env",
}
LEFT_OUT = (
    ".aws",
    ".docker/config.json",
    ".env",
    ".env.local",
    ".git",
    ".kube",
    ".netrc",
    ".npmrc",
    ".pypirc",
    ".ssh",
    "certs/server.pem",
    "id_rsa.pub",
    "keys/id_ed25519",
    "sub/.env",
    "tls.key",
)


def test_files_that_may_hold_secrets_are_left_out_and_named(tmp_path: Path) -> None:
    write_tree(tmp_path, {**SECRETS, "app.py": "print('hi')"})

    packed = pack_context(tmp_path, ["."], {"Dockerfile": DOCKERFILE})

    assert packed.files == (".docker", "Dockerfile", "app.py", "certs", "keys", "sub")
    assert not any(b"SECRET" in data for data in contents(packed).values())
    assert b"SECRET" not in gzip.decompress(packed.data)
    assert packed.left_out == LEFT_OUT
    (warning,) = packed.warnings
    shown = ", ".join(f"`{name}`" for name in LEFT_OUT[:10])
    assert warning == (
        "left out of the build context because they may hold secrets (a ConfigMap is readable"
        f" by many): {shown} and 5 more; to send one on purpose, add the line `!.aws` to a"
        f" .dockerignore file in {tmp_path}"
    )


# Each name a credential is known to live under, and what is left out for it (a folder stands for
# what is below it).
MORE_SECRETS = [
    ("keys/id_ecdsa", "keys/id_ecdsa"),
    ("id_ecdsa.pub", "id_ecdsa.pub"),
    ("keys/id_dsa", "keys/id_dsa"),
    (".git-credentials", ".git-credentials"),
    ("home/.vault-token", "home/.vault-token"),
    ("credentials.json", "credentials.json"),
    ("deploy/service-account.json", "deploy/service-account.json"),
    ("infra/terraform.tfstate", "infra/terraform.tfstate"),
    ("infra/terraform.tfstate.backup", "infra/terraform.tfstate.backup"),
    (".bash_history", ".bash_history"),
    ("home/.python_history", "home/.python_history"),
    ("certs/client.p12", "certs/client.p12"),
    ("certs/client.pfx", "certs/client.pfx"),
    (".config/gcloud/credentials.db", ".config/gcloud"),
    ("gcloud/credentials.db", "gcloud/credentials.db"),
]


@pytest.mark.parametrize(("path", "left_out"), MORE_SECRETS, ids=[c[0] for c in MORE_SECRETS])
def test_every_known_credential_file_is_left_out(tmp_path: Path, path: str, left_out: str) -> None:
    write_tree(tmp_path, {path: "SECRET", "app.py": "print('hi')"})

    packed = pack_context(tmp_path, ["."], {"Dockerfile": DOCKERFILE})

    assert b"SECRET" not in gzip.decompress(packed.data)
    assert packed.left_out == (left_out,)
    assert f"`{left_out}`" in packed.warnings[0]


@pytest.mark.parametrize("path", ["credentials.py", "history.txt", "id_dsl.txt", "state.tf"])
def test_names_close_to_a_credential_file_are_still_packed(tmp_path: Path, path: str) -> None:
    write_tree(tmp_path, {path: "kept"})

    packed = pack_context(tmp_path, ["."], {})

    assert packed.files == (path,)
    assert packed.left_out == ()


def test_an_exception_in_dockerignore_brings_one_back_without_a_warning(tmp_path: Path) -> None:
    write_tree(tmp_path, {".env": "WANTED", ".git/HEAD": "x", ".dockerignore": "!.env\n"})

    packed = pack_context(tmp_path, ["."], {})

    assert packed.files == (".dockerignore", ".env")
    assert contents(packed)[".env"] == b"WANTED"
    assert packed.left_out == (".git",)
    assert "`.env`" not in " ".join(packed.warnings)


def test_a_file_brought_back_from_a_left_out_folder_names_what_stays_out(tmp_path: Path) -> None:
    tree = {".git/HEAD": "ref", ".git/config": "token", ".git/refs/main": "x", "app.py": "1"}
    write_tree(tmp_path, {**tree, ".dockerignore": "!.git/HEAD\n"})

    packed = pack_context(tmp_path, ["."], {})

    assert ".git/HEAD" in packed.files
    assert ".git/config" not in packed.files
    # Before: `.git` was named as left out although part of it was in the archive.
    assert packed.left_out == (".git/config", ".git/refs")
    assert "`.git/config`, `.git/refs`;" in packed.warnings[0]


def test_an_exception_that_brings_nothing_back_names_the_folder_alone(tmp_path: Path) -> None:
    tree = {".git/HEAD": "ref", ".git/config": "token", "app.py": "1"}
    write_tree(tmp_path, {**tree, ".dockerignore": "!.git/ORIG_HEAD\n"})

    packed = pack_context(tmp_path, ["."], {})

    assert packed.files == (".dockerignore", "app.py")
    assert packed.left_out == (".git",)


def test_a_secret_the_dockerfile_copies_is_left_out_with_how_to_send_it(tmp_path: Path) -> None:
    write_tree(tmp_path, {".env": "SECRET", "app.py": ""})

    packed = pack_context(tmp_path, [".env", "app.py"], {})

    assert packed.files == ("app.py",)
    assert packed.warnings == (
        "COPY source `.env` is left out of the build context because it may hold secrets (a"
        " ConfigMap is readable by many), so the build cannot copy it: to send it on purpose,"
        f" add the line `!.env` to a .dockerignore file in {tmp_path}",
    )
    (tmp_path / ".dockerignore").write_text("!.env\n")
    assert pack_context(tmp_path, [".env", "app.py"], {}).files == (".env", "app.py")


def test_a_secret_inside_a_left_out_folder_is_named_once_by_its_copy(tmp_path: Path) -> None:
    write_tree(tmp_path, {".aws/config": "SECRET", "app.py": "", ".dockerignore": "*.tmp\n"})

    packed = pack_context(tmp_path, [".aws/config", "app.py"], {})

    assert packed.files == ("app.py",)
    (warning,) = packed.warnings
    assert warning.startswith("COPY source `.aws/config` is left out")
    assert warning.endswith(f"add the line `!.aws/config` to {tmp_path / '.dockerignore'}")


def test_what_the_users_dockerignore_leaves_out_is_not_warned_about(tmp_path: Path) -> None:
    write_tree(tmp_path, {".env": "SECRET", "app.py": "", ".dockerignore": ".env\n"})

    packed = pack_context(tmp_path, ["."], {})

    assert (packed.files, packed.warnings, packed.left_out) == ((".dockerignore", "app.py"), (), ())
    with pytest.raises(SpecError, match=r"`\.env` is excluded by .*\.dockerignore"):
        pack_context(tmp_path, [".env"], {})


def test_a_left_out_folder_is_not_walked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_tree(tmp_path, {f".git/objects/{n:02d}": "x" for n in range(50)})
    write_tree(tmp_path, {"app.py": "", ".dockerignore": "!app.py\n"})
    monkeypatch.setattr(context_walk, "MAX_ENTRIES", 10)

    assert pack_context(tmp_path, ["."], {}).files == (".dockerignore", "app.py")


# --------------------------------------------------------------------------- the listing


def test_the_listing_names_the_top_level_entries_with_sizes_and_counts(project: Path) -> None:
    (project / "link").symlink_to("notes.md")
    packed = pack_context(project, ["."], {"Dockerfile": "FROM x\n"})

    assert packed.top_level == (
        ArchiveEntry(".dockerignore", "file", 29),
        ArchiveEntry("Dockerfile", "file", 7),
        ArchiveEntry("data", "folder", 5, 1),
        ArchiveEntry("link", "link"),
        ArchiveEntry("notes.md", "file", 8),
        ArchiveEntry("requirements.txt", "file", 9),
        ArchiveEntry("src", "folder", 22, 3),
    )
    assert packed.listing() == [
        ".dockerignore  (29 B)",
        "Dockerfile  (7 B)",
        "data/  (1 entry, 5 B)",
        "link  (link)",
        "notes.md  (8 B)",
        "requirements.txt  (9 B)",
        "src/  (3 entries, 22 B)",
    ]


# --------------------------------------------------------------------------- bounds


def test_a_walk_over_too_many_entries_stops_with_one_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tree(tmp_path, {f"data/{n:03d}.csv": "" for n in range(40)})
    monkeypatch.setattr(context_walk, "MAX_ENTRIES", 30)

    with pytest.raises(SpecError, match=r"has more than 30 files and folders under the COPY") as e:
        pack_context(tmp_path, ["."], {})
    assert "node_modules" in str(e.value)
    assert "\n" not in str(e.value)


def test_a_tree_deeper_than_the_bound_stops_with_one_message(tmp_path: Path) -> None:
    (tmp_path / "/".join(["d"] * (context.MAX_DEPTH + 1))).mkdir(parents=True)

    with pytest.raises(SpecError, match=r"^`d/d/d/\.\.\.` in .* is more than 100 folders deep"):
        pack_context(tmp_path, ["."], {})


def test_files_that_cannot_fit_are_refused_before_being_read(tmp_path: Path) -> None:
    with (tmp_path / "huge.bin").open("wb") as handle:
        handle.truncate(default_archive_limit() * 1100)  # sparse: nothing to read but zeros

    with pytest.raises(SpecError, match=r"largest files: huge\.bin \(851\.6 MB\)$"):
        pack_context(tmp_path, ["."], {})


# --------------------------------------------------------------------------- races while packing


def swap_after_the_walk(monkeypatch: pytest.MonkeyPatch, swap: Callable[[], None]) -> None:
    """Change the folder between the walk and the reading of the files."""
    walked = context_walk.Packer.with_parents

    def then_swap(packer: Any) -> Any:
        entries = walked(packer)
        swap()
        return entries

    monkeypatch.setattr(context_walk.Packer, "with_parents", then_swap)


def test_a_file_swapped_for_a_link_is_not_followed_out_of_the_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = write_tree(tmp_path / "outside", {"secret": "TOP-SECRET"})
    project = write_tree(tmp_path / "project", {"data.txt": "data"})

    def swap() -> None:
        (project / "data.txt").unlink()
        (project / "data.txt").symlink_to(outside / "secret")

    swap_after_the_walk(monkeypatch, swap)
    with pytest.raises(SpecError, match=r"`data\.txt` in .* changed while the build context"):
        pack_context(project, ["."], {})


def test_a_file_replaced_while_packing_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tree(tmp_path, {"data.txt": "old"})

    def swap() -> None:
        (tmp_path / "new.txt").write_text("new")
        (tmp_path / "new.txt").replace(tmp_path / "data.txt")

    swap_after_the_walk(monkeypatch, swap)
    with pytest.raises(SpecError, match="changed while the build context was being packed"):
        pack_context(tmp_path, ["data.txt"], {})


# --------------------------------------------------------------------------- in the CLI's output


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def render_args(tmp_path: Path) -> list[str]:
    """``polymagic render`` of an operation copying a whole folder, which holds a secret."""
    project = tmp_path / "project"
    write_tree(project, {"app.py": "print('hi')\n", ".env": "SECRET=1", "src/a.py": "a = 1\n"})
    op = yaml.safe_load(SEED)
    op["runPatch"]["init"][0]["dockerfile"]["copy"] = ["."]
    (tmp_path / "op.yaml").write_text(yaml.safe_dump(op))
    (tmp_path / "conn.yaml").write_text(yaml.safe_dump(REGISTRY))
    connections = str(tmp_path / "conn.yaml")
    return [
        "render",
        str(tmp_path / "op.yaml"),
        "--connections",
        connections,
        "--context",
        str(project),
    ]


def test_render_lists_the_archive_and_warns_about_what_it_left_out(
    render_args: list[str], tmp_path: Path
) -> None:
    code, out, err = cli(*render_args)

    assert code == 0
    section = out.split("# ---- Build context: ", 1)[1].split("# ---- Kubernetes objects", 1)[0]
    header, *lines = section.splitlines()
    assert header.startswith("4 entries, ")
    assert header.endswith(" compressed (in the ConfigMap) ----")
    dockerfile = out.split("----\n", 1)[1].split("# ---- Component")[0]
    assert lines == [
        f"#   Dockerfile  ({len(dockerfile)} B)",
        "#   app.py  (12 B)",
        "#   src/  (1 entry, 6 B)",
        "#   left out (may hold secrets): .env",
    ]
    assert err.splitlines() == [
        "polymagic: warning: left out of the build context because they may hold secrets (a"
        " ConfigMap is readable by many): `.env`; to send one on purpose, add the line `!.env`"
        f" to a .dockerignore file in {tmp_path / 'project'}"
    ]
    config_map = next(d for d in yaml.safe_load_all(out.split("# ---- Kubernetes objects ----")[1]))
    archive = base64.b64decode(config_map["binaryData"]["context.tar.gz"])
    assert b"SECRET" not in gzip.decompress(archive)


def test_render_json_carries_the_listing(render_args: list[str]) -> None:
    code, out, _ = cli(*render_args, "-o", "json")

    data = json.loads(out)
    assert code == 0
    assert list(data) == ["dockerfiles", "component", "context", "manifests"]
    assert data["context"]["left_out"] == [".env"]
    assert data["context"]["entries"][-1] == {
        "name": "src",
        "kind": "folder",
        "size": 6,
        "count": 1,
    }


@pytest.mark.parametrize("only", ["dockerfile", "component", "manifests"])
def test_only_one_part_is_unchanged_by_the_listing(render_args: list[str], only: str) -> None:
    code, out, _ = cli(*render_args, "--only", only)

    assert code == 0
    assert "Build context" not in out
    assert "left out" not in out
    if only == "manifests":
        assert [d["kind"] for d in yaml.safe_load_all(out)] == ["ConfigMap", "Pod"]


def test_build_dry_run_warns_about_what_it_left_out(render_args: list[str]) -> None:
    code, out, err = cli("build", *render_args[1:], "--dry-run")

    assert code == 0
    assert "# ---- Build context: " in out
    assert "polymagic: warning: left out of the build context because they may hold" in err


# --------------------------------------------------------------------------- the simulated executor


def test_simulated_executor_reads_the_dockerfile_inside_the_archive(project: Path) -> None:
    packed = pack_context(project, ["requirements.txt"], {"build/Dockerfile": DOCKERFILE})

    names, files = read_tar_context(packed.data)

    assert names == list(packed.files)
    assert files["build/Dockerfile"] == DOCKERFILE.encode()
    with pytest.raises(ValueError, match="gzip: invalid header"):
        read_tar_context(b"not an archive")
    run = KanikoRun(
        KanikoArgs(destinations=("r/a",)),
        None,
        Scenario.SUCCESS,
        ScenarioOptions(),
        context_error="error resolving source context: open /x: no such file or directory",
    )
    assert (run.error_line, run.exit_code) == (
        "error resolving source context: open /x: no such file or directory",
        1,
    )


# --------------------------------------------------------------------------- on the test cluster

MOUNT = "/plx-context/artifacts"
DESTINATION = "registry.example.com/org/app:v1"


@pytest.fixture
def core(admin_kubeconfig: Path) -> Iterator[Any]:
    from kubernetes import client, config

    api_client = config.new_client_from_config(config_file=str(admin_kubeconfig))
    try:
        yield client.CoreV1Api(api_client)
    finally:
        api_client.close()


def run_tar_build(
    core: Any, namespace: str, name: str, binary: dict[str, bytes], extra_args: list[str]
) -> Any:
    """Create a ConfigMap holding ``binary`` and a Kaniko pod with a tar:// context mounting it;
    return the finished pod."""
    core.create_namespaced_config_map(
        namespace,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name},
            "binaryData": {k: base64.b64encode(v).decode() for k, v in binary.items()},
        },
    )
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "kaniko",
                    "image": "gcr.io/kaniko-project/executor:v1.24.0",
                    "args": [
                        "-c",
                        f"tar://{MOUNT}/context.tar.gz",
                        "-d",
                        DESTINATION,
                        "--digest-file=/dev/termination-log",
                        *extra_args,
                    ],
                    "volumeMounts": [{"name": "context", "mountPath": MOUNT, "readOnly": True}],
                }
            ],
            "volumes": [{"name": "context", "configMap": {"name": name}}],
        },
    }
    core.create_namespaced_pod(namespace, pod)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = core.read_namespaced_pod(name, namespace)
        if found.status.phase in ("Succeeded", "Failed"):
            return found
        time.sleep(0.1)
    raise AssertionError(f"pod {name} did not finish")


@pytest.mark.cluster
def test_tar_context_from_configmap_binary_data_is_unpacked_and_built(
    core: Any, sim_node: SimulatedNode, namespace: str, project: Path
) -> None:
    packed = pack_context(project, ["requirements.txt", "src"], {"Dockerfile": DOCKERFILE})
    (project / ".dockerignore").unlink()
    with_ignore = pack_context(
        project, ["requirements.txt"], {"Dockerfile": DOCKERFILE, ".dockerignore": "x"}
    )

    done = run_tar_build(core, namespace, "tar", {"context.tar.gz": packed.data}, ["-v", "debug"])
    ignored = run_tar_build(core, namespace, "ignore", {"context.tar.gz": with_ignore.data}, [])

    assert done.status.phase == "Succeeded"
    seen = sim_node.seen_pod(namespace, "tar")
    assert seen.binary_configmaps == {"tar": {"context.tar.gz": packed.data}}
    assert seen.context_files == {"kaniko": list(packed.files)}
    assert seen.dockerfile == DOCKERFILE
    lines = seen.log_lines()
    assert lines[0].startswith("\x1b[37mDEBU\x1b[0m[0000] Getting source context from tar://")
    assert "Build context located at /kaniko/buildcontext/" in lines[1]
    assert any("COPY requirements.txt /code" in line for line in lines)
    assert done.status.container_statuses[0].state.terminated.message == seen.digest
    assert ignored.status.phase == "Succeeded"
    first = sim_node.seen_pod(namespace, "ignore").log_lines()[0]
    assert "Using dockerignore file: /kaniko/buildcontext/.dockerignore" in first


@pytest.mark.cluster
def test_tar_context_without_archive_or_dockerfile_fails_like_kaniko(
    core: Any, sim_node: SimulatedNode, namespace: str, project: Path
) -> None:
    no_dockerfile = pack_context(project, ["requirements.txt"], {})

    missing = run_tar_build(core, namespace, "missing", {"other.tar.gz": b"x"}, [])
    empty = run_tar_build(core, namespace, "empty", {"context.tar.gz": no_dockerfile.data}, [])

    assert (missing.status.phase, empty.status.phase) == ("Failed", "Failed")
    assert sim_node.seen_pod(namespace, "missing").log_lines() == [
        f"error resolving source context: open {MOUNT}/context.tar.gz: no such file or directory"
    ]
    seen = sim_node.seen_pod(namespace, "empty")
    assert seen.log_lines() == [NO_DOCKERFILE_ERROR]
    assert seen.context_files == {"kaniko": ["requirements.txt"]}
    assert seen.exit_codes == {"kaniko": 1}


def test_gzip_of_the_archive_is_plain_gzip(project: Path) -> None:
    packed = pack_context(project, ["requirements.txt"], {})

    assert gzip.decompress(packed.data)[:16] == b"requirements.txt"
