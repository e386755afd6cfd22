"""Rendering dockerfile inits: the golden files, the reference's examples and rejections."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from polymagic.errors import SpecError
from polymagic.render.dockerfile import dockerfile_instructions, render_dockerfile
from polymagic.spec.loader import load_dockerfile_init

GOLDEN = Path(__file__).parent / "conformance" / "dockerfile"
CASES = sorted(p.stem for p in GOLDEN.glob("*.Dockerfile"))


@pytest.mark.parametrize("name", CASES, ids=CASES)
def test_golden_case_renders_byte_for_byte(name: str) -> None:
    body = json.loads((GOLDEN / f"{name}.json").read_text())
    expected = (GOLDEN / f"{name}.Dockerfile").read_bytes().decode()
    assert render_dockerfile(load_dockerfile_init(body)) == expected


REJECTED = json.loads((GOLDEN / "rejected.json").read_text())


@pytest.mark.parametrize("body", REJECTED, ids=[json.dumps(b)[:40] for b in REJECTED])
def test_polyaxon_rejections_are_rejected_with_a_field_path(body: dict[str, object]) -> None:
    with pytest.raises(SpecError, match=r"^dockerfile\.") as caught:
        load_dockerfile_init(body)
    assert caught.value.path is not None
    assert caught.value.path.startswith("dockerfile")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (
            {"image": "a:1", "langEnv": "C", "shell": ""},
            "\nFROM a:1\n\nENV LC_ALL C\nENV LANG C\nENV LANGUAGE C\nWORKDIR /code\n\n",
        ),
        (
            {"image": "a:1", "run": ["x"], "uid": 1, "gid": 2, "workdirPath": "."},
            "\nFROM a:1\n\n\nENV SHELL /bin/bash\nWORKDIR /code\n\nRUN x\n"
            "# Drop root user and use Polyaxon user\n"
            "RUN groupadd -g 2 -r polyaxon && useradd -r -m -g polyaxon -u 1 polyaxon\nCOPY . /code\n",
        ),
        (
            {"image": "a:1", "env": {"B": True, "F": 1.5}, "shell": ""},
            "\nFROM a:1\n\nENV B True\nENV F 1.5\nWORKDIR /code\n\n",
        ),
        (
            {"image": "a:1", "env": [["K", "v", "x"]], "shell": ""},
            "\nFROM a:1\n\nENV K v\nWORKDIR /code\n\n",
        ),
        (
            {"image": "a:1", "copy": [["a", "b", "c"]], "shell": ""},
            "\nFROM a:1\n\nWORKDIR /code\n\nCOPY a b\n",
        ),
        (
            {"image": "a:1", "uid": 0, "gid": 5, "run": [], "shell": ""},
            "\nFROM a:1\n\nWORKDIR /code\n\n",
        ),
        ({"image": "a:1", "filename": "Other", "shell": ""}, "\nFROM a:1\n\nWORKDIR /code\n\n"),
        (
            {"image": "a:1", "env": {"EMPTY": ""}, "shell": ""},
            "\nFROM a:1\n\nENV EMPTY \nWORKDIR /code\n\n",
        ),
    ],
    ids=[
        "lang-no-shell",
        "user-and-workdir-path",
        "env-str-of-values",
        "env-extra-items-ignored",
        "copy-extra-items-ignored",
        "uid-zero-is-unset",
        "filename-does-not-change-text",
        "empty-env-value",
    ],
)
def test_reference_examples(body: dict[str, object], text: str) -> None:
    assert render_dockerfile(load_dockerfile_init(body)) == text


@pytest.mark.parametrize(
    ("image", "ok"),
    [
        ("reg.io:5000/org/img:tag", True),
        ("UPPER/Case:1", True),
        ("img@sha256:" + "a" * 64, True),
        ("https://reg.io/img:1", True),
        ("a:b:c", False),
        ("a:/b:c", False),
        ("a:b:c:d", False),
        ("foo bar", False),
        ("", False),
    ],
)
def test_image_validation_matches_polyaxon(image: str, ok: bool) -> None:
    if ok:
        assert load_dockerfile_init({"image": image}).image == image
    else:
        with pytest.raises(SpecError, match=r"(?i)image"):
            load_dockerfile_init({"image": image})


def test_plain_string_run_is_rejected_with_advice() -> None:
    with pytest.raises(SpecError, match="plain string is not accepted") as caught:
        load_dockerfile_init({"image": "a:1", "run": "echo hi"})
    assert caught.value.path == "dockerfile.run"


def test_mistyped_key_gets_the_closest_field() -> None:
    with pytest.raises(SpecError, match="did you mean `langEnv`"):
        load_dockerfile_init({"image": "a:1", "langenv": "C"})


def test_instructions_skip_comments_and_blank_lines() -> None:
    text = render_dockerfile(
        load_dockerfile_init({"image": "a:1", "run": ["x"], "uid": 1, "gid": 1})
    )
    steps = dockerfile_instructions(text)
    assert steps[0] == "FROM a:1"
    assert steps[-1].startswith("RUN groupadd")
    assert not any(s.startswith("#") or not s for s in steps)
    assert dockerfile_instructions("FROM a\nRUN x \\\n  && y\n") == ["FROM a", "RUN x && y"]
