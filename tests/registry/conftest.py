"""Fixtures running Debian's real ``docker-registry`` (see :mod:`tests.registry.server`).

- ``http_registry`` / ``tls_registry`` / ``basic_auth_registry`` / ``token_registry`` (session):
  a running :class:`RegistryServer` in the ``HTTP``, ``TLS``, ``TLS_BASIC`` and ``TLS_TOKEN`` modes,
  started on first use and stopped by PID at the end of the session;
- ``repository`` (function): a repository name unique to the test;
- ``closed_port`` (function): ``127.0.0.1:<port>`` where nothing listens.

When a test using a registry fails, the tail of that registry's log is added to the report.
Without ``docker-registry`` or ``htpasswd`` the fixtures fail saying to run ``.ci/setup``.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator

import pytest

from tests.cluster.control_plane import free_port
from tests.registry.server import RegistryMode, RegistryServer


def _registry(
    tmp_path_factory: pytest.TempPathFactory, mode: RegistryMode
) -> Iterator[RegistryServer]:
    server = RegistryServer(tmp_path_factory.mktemp(f"registry-{mode.value}"), mode)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def http_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A registry on plain HTTP, open to anyone."""
    yield from _registry(tmp_path_factory, RegistryMode.HTTP)


@pytest.fixture(scope="session")
def tls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A registry on HTTPS with a certificate from a throwaway CA (``ca_file``), open to anyone."""
    yield from _registry(tmp_path_factory, RegistryMode.TLS)


@pytest.fixture(scope="session")
def basic_auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A registry on HTTPS that requires its user's password (htpasswd, HTTP Basic)."""
    yield from _registry(tmp_path_factory, RegistryMode.TLS_BASIC)


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A registry on HTTPS that requires Bearer tokens from its token server."""
    yield from _registry(tmp_path_factory, RegistryMode.TLS_TOKEN)


@pytest.fixture
def repository(request: pytest.FixtureRequest) -> str:
    """A valid repository name unique to this test (``tests/<test name>``)."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    return f"tests/{name[:120]}"


@pytest.fixture
def closed_port() -> str:
    """``127.0.0.1:<port>`` with nothing listening (free a moment ago)."""
    return f"127.0.0.1:{free_port()}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, RegistryServer):
                report.sections.append(
                    (
                        f"docker-registry log ({value.mode.value}, {value.log_path})",
                        value.log_tail(),
                    )
                )
    return report
