"""Kubernetes quantities in the executor's resources: read as the API server reads them, and a
value it would refuse stopped before anything is submitted (command line, magic, Python)."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import pytest

from polymagic.cli.main import main
from polymagic.errors import SpecError
from polymagic.render.build_objects import KanikoOptions
from polymagic.render.quantities import quantity_value
from tests.data import SEED


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("192Mi", 192 * 2**20),
        ("1Gi", 2**30),
        ("1.5Gi", 3 * 2**29),
        ("512M", 512 * 10**6),
        ("2k", 2000),
        ("500m", Decimal("0.5")),
        ("250u", Decimal("0.00025")),
        ("2", 2),
        (".5", Decimal("0.5")),
        ("1e9", 10**9),
        ("5E-1", Decimal("0.5")),
        ("+3Ki", 3072),
        ("0", 0),
        (2, 2),
        (0.25, Decimal("0.25")),
    ],
)
def test_quantities_the_api_server_accepts(text: str | float, value: Decimal | int) -> None:
    assert quantity_value(text) == value


@pytest.mark.parametrize(
    "text",
    ["lots", "", "4 Gi", "4GB", "4gi", "1e", "1e999", "-1Gi", "0x10", "1..2", "Mi", "1i", True,
     None, -3, float("inf"), "9" * 65],
)  # fmt: skip
def test_what_it_refuses(text: object) -> None:
    assert quantity_value(text) is None


def test_python_api_names_the_field_once() -> None:
    with pytest.raises(SpecError, match=r"^resources\.limits\.memory: `lots` is not a Kubernetes"):
        KanikoOptions(resources={"limits": {"memory": "lots"}})
    with pytest.raises(
        SpecError, match=r"^resources\.requests: must be a mapping of resource names"
    ):
        KanikoOptions(resources={"requests": ["4Gi"]})
    ok = KanikoOptions(resources={"limits": {"memory": "4Gi", "nvidia.com/gpu": 1}})
    assert ok.resources == {"limits": {"memory": "4Gi", "nvidia.com/gpu": 1}}


@pytest.mark.parametrize(
    ("flag", "value", "example"),
    [("--memory", "lots", "4Gi or 512Mi"), ("--cpu", "many", "2 or 500m")],
)
def test_command_line_refuses_a_bad_amount_at_once(
    tmp_path: Path, flag: str, value: str, example: str
) -> None:
    op = tmp_path / "op.yaml"
    op.write_text(SEED)
    out, err = io.StringIO(), io.StringIO()
    code = main(["build", str(op), "--dry-run", flag, value], out=out, err=err)
    assert code == 2
    assert out.getvalue() == ""
    assert err.getvalue() == (
        f"polymagic: error: {flag} {value}: not a Kubernetes quantity; give it like {example}\n"
    )


@pytest.mark.parametrize(
    ("resources", "path", "shown"),
    [
        ("{limits: {memory: lots}}", "limits.memory", "`lots` is not a Kubernetes quantity"),
        ("{requests: {cpu: '-1'}}", "requests.cpu", "`-1` is not a Kubernetes quantity"),
        ("{limits: [4Gi]}", "limits", "must be a mapping of resource names"),
    ],
    ids=["memory-limit", "negative-cpu-request", "limits-a-list"],
)
def test_an_operations_bad_amount_is_refused_with_its_field_before_submission(
    tmp_path: Path, resources: str, path: str, shown: str
) -> None:
    op = tmp_path / "op.yaml"
    op.write_text(
        SEED.replace("runPatch:\n", f"runPatch:\n  container: {{resources: {resources}}}\n")
    )
    out, err = io.StringIO(), io.StringIO()
    code = main(["build", str(op), "--dry-run"], out=out, err=err)
    assert code == 2
    assert out.getvalue() == ""
    errors = [line for line in err.getvalue().splitlines() if "error:" in line]
    assert len(errors) == 1, err.getvalue()
    assert errors[0].startswith(f"polymagic: error: run.container.resources.{path}: {shown}")
