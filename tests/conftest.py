"""Root conftest: registers the real-cluster fixtures, the test tiers (:mod:`tests.tiers`: plain
``pytest`` runs the fast tier, ``--all-tiers`` everything, and under CI a skip is a failure), the
fixtures every directory shares, the hypothesis profiles and the recording option.

- hypothesis runs the ``ci`` profile (derandomised: the same examples every run) under CI and
  the ``dev`` profile (random, a failure prints how to reproduce it) elsewhere;
- ``--record-api-traffic`` makes the tests that name a scenario rewrite
  ``tests/fixtures/api-traffic/`` (``python -m tests.replay.record`` passes it).

Constants the tests share live in :mod:`tests.data`; tests import them from there, never from a
conftest.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.data import CONFORMANCE, SEED
from tests.reach import Reach
from tests.registry.server import RegistryServer

pytest.register_assert_rewrite("tests.tiers")  # imported here, before it loads as a plugin
from tests.tiers import CI, TIER_FIXTURES  # noqa: E402

# Registered as plugins (allowed only in the root conftest), so the cluster fixtures exist
# exactly once for the whole session without a star import, and the tiers apply everywhere.
pytest_plugins = ["tests.cluster.fixtures", "tests.tiers"]

# CI replays the same examples on every run (a red CI is red again on a re-run); elsewhere the
# examples are random and a failure prints the @reproduce_failure blob (and hypothesis its seed).
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", print_blob=True)
HYPOTHESIS_PROFILE = "ci" if CI else "dev"
settings.load_profile(HYPOTHESIS_PROFILE)


@pytest.fixture(scope="session", autouse=True)
def data_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``XDG_DATA_HOME`` for the whole session (every ``polymagic`` child inherits it): the
    SBOM and provenance copies every real build writes land there, not in the user's home."""
    before = os.environ.get("XDG_DATA_HOME")
    folder = tmp_path_factory.mktemp("data-home")
    os.environ["XDG_DATA_HOME"] = str(folder)
    yield folder
    if before is None:
        del os.environ["XDG_DATA_HOME"]
    else:
        os.environ["XDG_DATA_HOME"] = before


@pytest.fixture
def seed() -> str:
    return SEED


@pytest.fixture
def conformance() -> Path:
    return CONFORMANCE


@pytest.fixture
def reach(request: pytest.FixtureRequest) -> Iterator[Reach]:
    """A property test's per-stage counts (:mod:`tests.reach`), shown in the terminal summary."""
    counted = Reach(request.node.name)
    yield counted
    request.node.user_properties.append(("reach", counted.summary()))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = [
        f"{report.nodeid}: {value.split(': ', 1)[1]}"
        for reports in terminalreporter.stats.values()
        for report in reports
        if getattr(report, "when", None) == "teardown"
        for name, value in getattr(report, "user_properties", ())
        if name == "reach"
    ]
    if lines:
        terminalreporter.section("how far the property tests' examples got")
        for line in lines:
            terminalreporter.write_line(line)


# -- options ------------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("polymagic").addoption(
        "--record-api-traffic",
        action="store_true",
        help="rewrite tests/fixtures/api-traffic/*.json from the cluster tests that name a "
        "scenario (use `python -m tests.replay.record`; the tapes change only on request)",
    )


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("POLYMAGIC_RECORD_API_TRAFFIC"):
        raise pytest.UsageError(
            "POLYMAGIC_RECORD_API_TRAFFIC no longer records anything: unset it, and re-record "
            "with `python -m tests.replay.record` (it passes --record-api-traffic)"
        )


def pytest_report_header(config: pytest.Config) -> str:
    return f"polymagic: hypothesis profile {HYPOTHESIS_PROFILE}"


# -- the `registry` marker, checked ----------------------------------------------------------------

REGISTRY_FIXTURES = TIER_FIXTURES["registry"]
"""Fixtures that start Debian's docker-registry: a test using one (even through another fixture)
is marked ``registry`` at collection (:mod:`tests.tiers`)."""


def _registry_started_unmarked(item: pytest.Item) -> Generator[None, object, object]:
    """Fails the phase of a test that started a registry without the ``registry`` marker (a new
    registry fixture not in REGISTRY_FIXTURES, ``getfixturevalue``, or ``RegistryServer(...)`` in a
    test), so the marker cannot silently go missing."""
    before = RegistryServer.starts
    result = yield
    if RegistryServer.starts != before and item.get_closest_marker("registry") is None:
        pytest.fail(
            f"{item.nodeid} started docker-registry without the `registry` marker: mark it "
            "`@pytest.mark.registry` or add its fixture to TIER_FIXTURES in tests/tiers.py",
            pytrace=False,
        )
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _registry_started_unmarked(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _registry_started_unmarked(item))
