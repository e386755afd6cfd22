"""Pod fields that widen what the build can reach (privileged, host namespaces, hostPath, another
service account, ...), set by the operation: refused before submission unless allowed with
``--allow-pod-field NAME``, and always listed in the manifests view."""

from __future__ import annotations

import argparse
import io
from pathlib import Path
from typing import Any

import pytest
import yaml

from polymagic.app.arguments import add_options
from polymagic.app.pod_fields import ALLOW_POD_FIELD, allowed_pod_fields
from polymagic.cli.main import main
from polymagic.notebook.build_views import build_views
from polymagic.notebook.views import ManifestsView
from polymagic.render.compiler import compile_operation
from polymagic.render.manifests import build_manifests
from polymagic.render.options import BuildOptions
from polymagic.render.pod_fields import (
    WIDENING,
    PodFieldRefused,
    check_pod_fields,
    pod_field_lines,
    widening_fields,
)
from tests.data import SEED

# (allow name, the runPatch that sets it, where the refusal points)
FROM_THE_OPERATION = [
    (
        "privileged",
        {"container": {"securityContext": {"privileged": True}}},
        "run.container.securityContext.privileged",
    ),
    (
        "allowPrivilegeEscalation",
        {"container": {"securityContext": {"allowPrivilegeEscalation": True}}},
        "run.container.securityContext.allowPrivilegeEscalation",
    ),
    (
        "capabilities",
        {"container": {"securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}},
        "run.container.securityContext.capabilities.add",
    ),
    ("hostPID", {"environment": {"hostPID": True}}, "environment.hostPID"),
    ("hostNetwork", {"environment": {"hostNetwork": True}}, "environment.hostNetwork"),
    (
        "hostPath",
        {"volumes": [{"name": "root", "hostPath": {"path": "/"}}]},
        "run.volumes[0].hostPath",
    ),
    (
        "serviceAccountName",
        {"environment": {"serviceAccountName": "cluster-admin-sa"}},
        "environment.serviceAccountName",
    ),
]
IDS = [case[0] for case in FROM_THE_OPERATION]


def _op(patch: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = yaml.safe_load(SEED)
    op["runPatch"].update(patch)
    return op


def _pod(patch: dict[str, Any], **options: Any) -> dict[str, Any]:
    return build_manifests(compile_operation(_op(patch)), **options).pod


@pytest.mark.parametrize(("name", "patch", "source"), FROM_THE_OPERATION, ids=IDS)
def test_each_widening_field_from_the_operation_is_refused_naming_it(
    name: str, patch: dict[str, Any], source: str
) -> None:
    pod = _pod(patch)
    with pytest.raises(PodFieldRefused, match=f"--allow-pod-field {name}$") as refused:
        check_pod_fields(pod, ())
    message = str(refused.value)
    assert message.startswith(f"{source}: `")
    assert "\n" not in message
    assert refused.value.path == source


@pytest.mark.parametrize(("name", "patch", "source"), FROM_THE_OPERATION, ids=IDS)
def test_each_widening_field_is_let_through_when_allowed_and_listed(
    name: str, patch: dict[str, Any], source: str
) -> None:
    pod = _pod(patch)
    (found,) = check_pod_fields(pod, (name,))
    assert (found.name, found.source) == (name, source)
    (line,) = pod_field_lines(pod, (name,))
    assert line.startswith(f"{name} ({source}: ")
    assert line.endswith("allowed (--allow-pod-field)")


def test_host_ipc_and_an_automounted_token_in_a_pod_are_refused() -> None:
    pod = {"spec": {"hostIPC": True, "automountServiceAccountToken": True, "containers": []}}
    assert [f.name for f in widening_fields(pod)] == ["hostIPC", "automountServiceAccountToken"]
    with pytest.raises(PodFieldRefused, match=r"--allow-pod-field hostIPC$"):
        check_pod_fields(pod, ())


def test_an_ordinary_build_pod_has_no_widening_field() -> None:
    assert widening_fields(_pod({})) == []
    assert check_pod_fields(_pod({}), ()) == []


def test_the_users_own_service_account_option_is_not_refused() -> None:
    from polymagic.render.build_objects import KanikoOptions

    pod = _pod({}, kaniko=KanikoOptions(service_account="builder"))
    assert pod["spec"]["serviceAccountName"] == "builder"
    assert check_pod_fields(pod, (), service_account="builder") == []
    # The operation's own service account is overridden by the option, so it is not there.
    pod = _pod(
        {"environment": {"serviceAccountName": "other"}},
        kaniko=KanikoOptions(service_account="builder"),
    )
    assert check_pod_fields(pod, (), service_account="builder") == []


def test_allowing_an_unknown_name_is_refused() -> None:
    with pytest.raises(PodFieldRefused, match="`priviliged` is not a pod field"):
        check_pod_fields(_pod({}), ("priviliged",))


def test_the_option_takes_each_name_once_and_only_known_names(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = argparse.ArgumentParser()
    add_options(parser, ALLOW_POD_FIELD)
    args = parser.parse_args(["--allow-pod-field", "hostPID", "--allow-pod-field", "hostPID"])
    assert allowed_pod_fields(args) == ("hostPID",)
    assert allowed_pod_fields(argparse.Namespace()) == ()
    with pytest.raises(SystemExit):
        parser.parse_args(["--allow-pod-field", "hostpid"])
    assert "invalid choice: 'hostpid'" in capsys.readouterr().err
    assert set(WIDENING) == {
        "privileged",
        "allowPrivilegeEscalation",
        "capabilities",
        "hostPID",
        "hostIPC",
        "hostNetwork",
        "hostPath",
        "serviceAccountName",
        "automountServiceAccountToken",
    }


# -- the command line and the notebook's view ----------------------------------------------------


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def privileged_op(tmp_path: Path) -> Path:
    path = tmp_path / "op.yaml"
    patch = {
        "container": {"securityContext": {"privileged": True}},
        "environment": {"hostNetwork": True},
    }
    path.write_text(yaml.safe_dump(_op(patch)))
    return path


def test_a_dry_run_build_is_refused_with_one_line(
    privileged_op: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    code, _, err = _run(
        "build", str(privileged_op), "--dry-run", "--allow-pod-field", "hostNetwork"
    )
    assert code != 0
    (error,) = [line for line in err.splitlines() if line.startswith("polymagic: error:")]
    assert "run.container.securityContext.privileged: `true` runs the executor with every" in error
    assert error.endswith("pass --allow-pod-field privileged")


def test_a_dry_run_build_lists_the_allowed_fields(
    privileged_op: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    code, out, err = _run(
        "build",
        str(privileged_op),
        "--dry-run",
        "--allow-pod-field",
        "privileged",
        "--allow-pod-field",
        "hostNetwork",
    )
    assert code == 0, err
    section = out.split("# ---- Pod fields that widen what the build can reach ----\n")[1]
    listed = section.split("# ---- Kubernetes objects ----")[0].splitlines()
    assert [line.split(" (")[0] for line in listed] == ["#   privileged", "#   hostNetwork"]
    assert all(line.endswith("allowed (--allow-pod-field)") for line in listed)


def test_render_lists_and_warns_about_the_fields(privileged_op: Path) -> None:
    code, out, err = _run("render", str(privileged_op))
    assert code == 0, err
    assert (
        "#   hostNetwork (environment.hostNetwork: true): puts the build on the node's network"
        in out
    )
    assert (
        "polymagic: warning: pod field privileged (run.container.securityContext.privileged: true)"
        in err
    )
    assert "refused at submission unless --allow-pod-field privileged" in err


def test_the_notebook_manifests_view_lists_the_fields(privileged_op: Path, tmp_path: Path) -> None:
    build = compile_operation(privileged_op.read_text())
    options = BuildOptions(allowed_pod_fields=("privileged",), context_dir=tmp_path)
    (view,) = [v for v in build_views(build, "manifests", options) if isinstance(v, ManifestsView)]
    plain = view.plain()
    assert "# pod field privileged (run.container.securityContext.privileged: true)" in plain
    assert "allowed (--allow-pod-field)" in plain
    assert "refused at submission unless --allow-pod-field hostNetwork" in plain
    assert "pod fields that widen what the build can reach" in view.html()
    assert "hostNetwork (environment.hostNetwork: true)" in view.html()
