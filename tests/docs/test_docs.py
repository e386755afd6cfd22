"""The documentation matches the code: the options page is the one the settings schema and
the shared options make; the executor options page lists each option with the release it needs;
the README stays a front door (short, every link to a file of the repository resolves)."""

from __future__ import annotations

import re
from pathlib import Path

from polymagic.render.executor_flags import EXECUTOR_FLAGS, FLAG_SINCE
from tests.docs.options_reference import options_markdown

ROOT = Path(__file__).resolve().parents[2]
REGENERATE = "python -m tests.docs.options_reference > docs/options.md"


def test_the_options_page_is_made_from_the_code() -> None:
    committed = (ROOT / "docs" / "options.md").read_text(encoding="utf-8")
    assert committed == options_markdown(), f"docs/options.md is stale: run `{REGENERATE}`"


def test_each_executor_option_is_documented_with_the_release_it_needs() -> None:
    page = (ROOT / "docs" / "private-packages.md").read_text(encoding="utf-8")
    for item in EXECUTOR_FLAGS:
        release = "v" + ".".join(map(str, item.since))
        assert f"| `{item.flag}` | {release} |" in page, item.flag


def test_the_readmes_options_table_gives_each_option_the_release_the_code_checks() -> None:
    """Every row of the README's table names flags and releases in the same order, and each
    release is the one ``check_executor_version`` refuses older executors by."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (`--[^|]+) \| (v[\d. /v]+) \|", readme, re.MULTILINE)
    seen: set[str] = set()
    for flags, releases in rows:
        names = re.findall(r"`(--[\w-]+)`", flags)
        versions = [v.strip() for v in releases.split("/")]
        assert len(names) == len(versions), flags
        for name, version in zip(names, versions, strict=True):
            assert version == "v" + ".".join(map(str, FLAG_SINCE[name])), name
            seen.add(name)
    assert {item.flag for item in EXECUTOR_FLAGS} | {"--cache-repo", "--snapshot-mode"} <= seen


def test_the_readme_is_a_front_door_whose_links_resolve() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 400
    for heading in ("## Install", "## Two commands", "## Compatibility with Polyaxon"):
        assert heading in readme
    targets = re.findall(r"\]\(((?!https?://|#)[^)#\s]+)(?:#[^)]*)?\)", readme)
    assert targets
    missing = [t for t in targets if not (ROOT / t).exists()]
    assert not missing, f"README links to files that do not exist: {missing}"


def test_the_project_files_exist() -> None:
    for name in ("LICENSE", "CHANGELOG.md", "CONTRIBUTING.md", "SECURITY.md", "mkdocs.yml"):
        assert (ROOT / name).is_file(), name
    assert "Apache License" in (ROOT / "LICENSE").read_text(encoding="utf-8")[:200]
