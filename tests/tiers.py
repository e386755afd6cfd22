"""The test tiers (a pytest plugin, registered by the root conftest): which tests need
infrastructure, and what a missing piece of it means.

Plain ``pytest`` runs the fast tier only: the tests that need no cluster, registry, Polyaxon
oracle, real executor, browser or real kernel, and that run no hostile input in bounded children
(seconds of CPU each). The others carry a tier marker, given at
collection by :func:`tiers_of` from the fixtures a test uses (directly or through another
fixture) and from the file it lives in, so a new test that asks for ``namespace`` or
``executor_image`` is in its tier without anyone remembering a decorator. ``--all-tiers`` (what
``.ci/test`` passes) runs everything; ``-m cluster`` and friends select tiers; naming files or
test ids (``pytest tests/test_build_cluster.py``) runs what was named, whatever its tier.

Under CI (the ``CI`` environment variable set, as CI runs ``.ci/run``) every tier CI provisions
is required: :func:`unavailable` fails instead of skipping, and a skip from anywhere else is
reported as a failure with its reason, so no test can quietly stop running there.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterable
from pathlib import Path
from typing import NoReturn

import pytest

__all__ = [
    "CI",
    "INFRASTRUCTURE_TIERS",
    "TIER_FIXTURES",
    "ci_is_set",
    "example_count",
    "tiers_of",
    "unavailable",
]


def ci_is_set(value: str | None) -> bool:
    """Whether ``CI`` is set the way CI services set it (``true``, ``1``); empty, ``0``,
    ``false`` and ``no`` do not count."""
    return (value or "").strip().lower() not in ("", "0", "false", "no")


CI = ci_is_set(os.environ.get("CI"))
"""True when the run is CI's (``CI=true bash .ci/run``): nothing may be skipped then."""

TESTS = Path(__file__).resolve().parent

INFRASTRUCTURE_TIERS = {
    "cluster": "runs against the real kube-apiserver test cluster",
    "registry": "starts Debian's docker-registry",
    "oracle": "compares against the real polyaxon package, installed into a throwaway venv",
    "real_executor": "builds with the real Kaniko executor under runc",
    "browser": "drives Debian's Chromium through Playwright (JupyterLab in a real browser)",
    "kernel": "starts a real Jupyter kernel (ipykernel in a subprocess)",
    "hostile": "runs polymagic on hostile input in children under time and memory limits",
}
"""The markers plain ``pytest`` leaves out (``slow`` alone does not: it is a speed note)."""

TIER_FIXTURES: dict[str, frozenset[str]] = {
    # The control plane is under every cluster fixture (namespace, sim_node, kernel_env, ...).
    "cluster": frozenset({"control_plane"}),
    "registry": frozenset(
        {
            "http_registry",
            "tls_registry",
            "basic_auth_registry",
            "token_registry",
            "plain_registry",
            "auth_registry",
            "module_registry",
        }
    ),
    "real_executor": frozenset({"executor_image", "runc_engine"}),
    "browser": frozenset({"chromium"}),
    # A kernelspec for a real ipykernel (notebooks, JupyterLab).
    "kernel": frozenset({"kernel_env", "offline_kernel_env", "kernelspec_lookup"}),
    "oracle": frozenset({"oracle_results"}),
}
"""Fixtures that bring up a tier: a test using one, even through another fixture, is in it."""

TIER_FILES: dict[str, tuple[str, ...]] = {
    "real_executor": ("real_executor/",),
    # Each test runs bounded children (tests/hostile/bounded.py) for seconds of CPU.
    "hostile": ("hostile/",),
    # The oracle is called directly (run_oracle), not through a fixture.
    "oracle": ("oracle/", "differential/"),
    # Kernels started by the tests' own helpers (the freeze kernel, nbclient, JupyterLab).
    "kernel": (
        "freeze/test_freeze_kernel.py",
        "freeze/test_freeze_kernel_classes.py",
        "freeze/test_freeze_kernel_audit.py",
        "real_executor/test_notebooks_real.py",
        "real_executor/test_freeze_image.py",
        "real_executor/test_quickstart_local.py",
    ),
}
"""Files (or directories, ending in ``/``) under ``tests/`` whose tests all belong to a tier."""


def tiers_of(fixtures: Iterable[str], path: Path, tests_root: Path = TESTS) -> set[str]:
    """The infrastructure tiers a test with these fixtures, in this file, belongs to."""
    used = set(fixtures)
    found = {tier for tier, names in TIER_FIXTURES.items() if used & names}
    if path.is_relative_to(tests_root):
        relative = path.relative_to(tests_root).as_posix()
        found |= {
            tier
            for tier, places in TIER_FILES.items()
            if any(relative == p or (p.endswith("/") and relative.startswith(p)) for p in places)
        }
    return found


_every_tier = CI


def example_count(full: int) -> int:
    """How many examples a property test draws: ``full`` when every tier runs (``.ci/test``,
    CI), a quarter (at least 50) in the fast loop, so plain ``pytest`` stays quick. Its stage
    floors are fractions, so they hold for both."""
    return full if _every_tier else max(50, full // 4)


def unavailable(reason: str) -> NoReturn:
    """A tier's piece is missing: outside CI the test is skipped with ``reason``; under CI,
    where everything is provisioned, it fails with it."""
    if CI:
        pytest.fail(f"required under CI (CI is set): {reason}", pytrace=False)
    pytest.skip(reason)


# -- the plugin ---------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("polymagic").addoption(
        "--all-tiers",
        action="store_true",
        help="run every tier (cluster, registry, oracle, real executor, browser, kernel, "
        "hostile); plain pytest runs only the tests that need none of them",
    )


def pytest_configure(config: pytest.Config) -> None:
    global _every_tier  # read when the test modules build their settings, at collection
    _every_tier = CI or bool(config.getoption("all_tiers"))
    for tier, about in INFRASTRUCTURE_TIERS.items():
        config.addinivalue_line("markers", f"{tier}: {about}")


def _runs_every_tier(config: pytest.Config) -> bool:
    """``--all-tiers``, a ``-m`` expression, or files / test ids named on the command line (what
    the user named is run, whatever its tier); plain ``pytest`` runs the fast tier."""
    named = config.args_source is pytest.Config.ArgsSource.ARGS
    return bool(config.getoption("all_tiers") or config.getoption("markexpr") or named)


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = [
        f"polymagic: CI {'is set: a skip is a failure' if CI else 'is not set'}; "
        f"property tests draw {'all their' if _every_tier else 'a quarter of their'} examples"
    ]
    if not _runs_every_tier(config):
        lines.append(
            "polymagic: the fast tier only; --all-tiers (or -m <tier>) runs the "
            f"{', '.join(INFRASTRUCTURE_TIERS)} tests too"
        )
    return lines


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with the tiers its fixtures and file bring up; without ``--all-tiers``
    or ``-m``, leave out every test in an infrastructure tier."""
    for item in items:
        for tier in sorted(tiers_of(getattr(item, "fixturenames", ()), item.path)):
            item.add_marker(getattr(pytest.mark, tier))
    if _runs_every_tier(config):
        return
    kept: list[pytest.Item] = []
    left: list[pytest.Item] = []
    for item in items:
        infrastructure = any(item.get_closest_marker(t) for t in INFRASTRUCTURE_TIERS)
        (left if infrastructure else kept).append(item)
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = kept


def _skip_reason(longrepr: object) -> str:
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if CI and report.skipped:
        report.outcome = "failed"
        report.longrepr = (
            "skipped under CI, where every tier is provisioned (CI is set): "
            + _skip_reason(report.longrepr)
        )
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    if CI and report.skipped:
        report.outcome = "failed"
        report.longrepr = "a module skipped under CI (CI is set): " + _skip_reason(report.longrepr)
    return report
