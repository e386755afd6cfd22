"""Tests of polymagic.render.permissions without a cluster: `polymagic rbac` refuses names the
API server would refuse, says what `pods: create` implies, and a Pod Security refusal (in the
API server's own words) becomes one error that names the namespace label to set."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import yaml

from polymagic.cli.main import main
from polymagic.errors import PreflightError, SpecError
from polymagic.kube.client import answer_error
from polymagic.render.permissions import (
    POD_SECURITY_LABEL,
    PODS_CREATE_IMPLIES,
    pod_security_refusal,
    rbac_objects,
)

USER_GUIDE = Path(__file__).resolve().parents[1] / "docs" / "user-guide.md"


def _rbac(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *argv: str) -> tuple[int, str, str]:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("POLYMAGIC_CONNECTIONS", raising=False)
    out, err = io.StringIO(), io.StringIO()
    code = main(["rbac", "--namespace", "ml", *argv], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


BAD_NAMES = [
    (["--secret", ""], "--secret: secret ``"),
    (["--secret", "*"], "--secret: secret `*`"),
    (["--secret", "Regcred"], "--secret: secret `Regcred`"),
    (["--secret", "a/b"], "--secret: secret `a/b`"),
    (["--secret", "x" * 254], "--secret: secret `xxx"),
    (["--service-account", "x y"], "--service-account: service account `x y`"),
    (["--service-account", ""], "--service-account: service account ``"),
    (["--service-account", "*"], "--service-account: service account `*`"),
]


@pytest.mark.parametrize(("argv", "words"), BAD_NAMES, ids=[repr(c[0][1])[:20] for c in BAD_NAMES])
def test_rbac_refuses_a_name_the_api_server_would_refuse(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, argv: list[str], words: str
) -> None:
    code, out, err = _rbac(monkeypatch, tmp_path, *argv)
    assert code == 2
    assert out == ""
    (line,) = err.strip().splitlines()
    assert words in line
    assert "lower-case letters, digits" in line


def test_rbac_names_the_catalog_connection_whose_secret_is_not_a_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    catalog = tmp_path / "connections.yaml"
    catalog.write_text(
        "- {name: hub, kind: registry, schema: {url: r.io}, secret: {name: '*', mountPath: /k}}\n"
    )
    code, _, err = _rbac(monkeypatch, tmp_path, "--connections", str(catalog))
    assert code == 2
    assert "connection `hub`: secret.name: secret `*` is not a valid name" in err


def test_rbac_prints_valid_names_as_they_are(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    argv = ["--secret", "regcred", "--secret", "a.b-1", "--service-account", "builder"]
    code, out, _ = _rbac(monkeypatch, tmp_path, *argv)
    assert code == 0
    role, binding = yaml.safe_load_all(out)
    assert role["rules"][-1]["resourceNames"] == ["a.b-1", "regcred"]
    assert binding["subjects"][0]["name"] == "builder"


def test_rbac_objects_check_their_names_for_every_caller() -> None:
    with pytest.raises(SpecError, match=r"service account `x y` is not a valid name"):
        rbac_objects("ml", "x y")
    with pytest.raises(SpecError, match=r"namespace `ML` is not a valid name"):
        rbac_objects("ML", "builder")


def test_help_and_user_guide_say_what_pods_create_implies(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit, match="0"):
        main(["rbac", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert " ".join(PODS_CREATE_IMPLIES.split()) in shown
    assert f"`{POD_SECURITY_LABEL}=baseline`" in shown  # whole, copyable
    guide = " ".join(USER_GUIDE.read_text().split())
    for words in ("mounts any Secret in the namespace", f"{POD_SECURITY_LABEL}=baseline", "root"):
        assert words in guide


# The API server's answer to a pod that Pod Security admission refuses (Kubernetes 1.25+,
# k8s.io/pod-security-admission), as the body of the 403.
RESTRICTED = (
    'pods "build-abc" is forbidden: violates PodSecurity "restricted:latest":'
    ' allowPrivilegeEscalation != false (container "executor" must set'
    " securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container"
    ' "executor" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod'
    ' or container "executor" must set securityContext.runAsNonRoot=true), seccompProfile (pod or'
    ' container "executor" must set securityContext.seccompProfile.type to "RuntimeDefault" or'
    ' "Localhost")'
)
BASELINE = (
    'pods "build-abc" is forbidden: violates PodSecurity "baseline:v1.29": hostPath volumes'
    ' (volume "docker")'
)


def _forbidden(message: str) -> str:
    body = {"kind": "Status", "status": "Failure", "message": message, "reason": "Forbidden"}
    return str(answer_error(403, "Forbidden", json.dumps(body).encode(), "creating pod build-abc"))


def test_a_pod_security_refusal_is_read_from_the_api_servers_words() -> None:
    refusal = pod_security_refusal(_forbidden(RESTRICTED))
    assert refusal is not None
    assert refusal.level == "restricted"
    assert refusal.violations.startswith("allowPrivilegeEscalation != false")
    baseline = pod_security_refusal(_forbidden(BASELINE))
    assert baseline is not None
    assert (baseline.level, baseline.violations) == (
        "baseline",
        'hostPath volumes (volume "docker")',
    )


@pytest.mark.parametrize(
    "message",
    [
        'pods "x" is forbidden: exceeded quota: compute, requested: cpu=2',
        'pods "x" is forbidden: User "bob" cannot create resource "pods" in the namespace "ml"',
    ],
)
def test_other_refusals_are_not_read_as_pod_security(message: str) -> None:
    assert pod_security_refusal(_forbidden(message)) is None


def test_the_pod_security_error_says_root_restricted_and_the_label() -> None:
    refusal = pod_security_refusal(_forbidden(RESTRICTED))
    assert refusal is not None
    error = PreflightError.pod_security("ml", refusal.level, refusal.violations)
    text = str(error)
    assert error.reason == "PodSecurity"
    assert "namespace `ml` refused the executor pod under Pod Security admission" in text
    assert "runs as root, which `restricted` refuses" in text
    assert "`pod-security.kubernetes.io/enforce=baseline`" in text
    assert "kubectl label namespace ml pod-security.kubernetes.io/enforce=baseline" in text
