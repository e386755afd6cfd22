"""The executor's own options (``polymagic.render.executor_flags``): each typed option reaches
the pod's arguments exactly once, from the command line and the magic alike; an option the
chosen executor release lacks is refused before anything is submitted; ``--executor-arg``
passes what has no option, but not what polymagic sets itself; the team settings for a mirror
and a cache repository reach the pod."""

from __future__ import annotations

import io
import shlex
from pathlib import Path
from typing import Any

import pytest

from polymagic.app.arguments import build_options
from polymagic.cli.main import _parser, main
from polymagic.errors import SpecError
from polymagic.render.build_objects import KanikoOptions
from polymagic.render.compiler import compile_operation
from polymagic.render.executor_flags import (
    EXECUTOR_FLAGS,
    FlagKind,
    check_executor_version,
    executor_version,
)
from polymagic.render.manifests import build_manifests, spec_hash_of
from tests.data import SEED

SAMPLES: dict[FlagKind, tuple[str, str]] = {
    # kind -> (what follows the option on the line, the argument the pod gets after the flag)
    FlagKind.SWITCH: ("", ""),
    FlagKind.BOOLEAN: ("false", "=false"),
    FlagKind.NUMBER: ("3", "=3"),
    FlagKind.REPEATED: ("mirror.example.com", "=mirror.example.com"),
    FlagKind.PAIRS: ("team=ml", "=team=ml"),
}


def _sample(flag: Any) -> tuple[str, str]:
    if flag.kind is FlagKind.TEXT:
        value = flag.choices[-1] if flag.choices else "x"
        return value, f"={value}"
    return SAMPLES[flag.kind]


def _pod_args(words: str, magic: bool = False) -> list[str]:
    if magic:
        from polymagic.notebook.magics import PolyBuildMagics

        args = PolyBuildMagics.polybuild.parser.parse_argstring(words)
    else:
        args = _parser().parse_args(["build", "op.yaml", *shlex.split(words)])
    options = build_options(args, context_dir=Path.cwd())
    build = compile_operation(SEED)
    manifests = build_manifests(build, executor_image=options.executor_image, kaniko=options.kaniko)
    container = manifests.pod["spec"]["containers"][0]
    return list(container["args"])


@pytest.mark.parametrize("flag", EXECUTOR_FLAGS, ids=lambda f: f.flag)
@pytest.mark.parametrize("magic", [False, True], ids=["command-line", "magic"])
def test_each_option_reaches_the_pods_arguments_exactly_once(flag: Any, magic: bool) -> None:
    value, suffix = _sample(flag)
    args = _pod_args(f"{flag.flag} {value}".strip(), magic)
    assert args.count(f"{flag.flag}{suffix}") == 1, args
    # polymagic's own labels and annotations are on by default: the baseline turns them off.
    baseline = _pod_args("--no-annotations", magic)
    assert not any(a.startswith(flag.flag) for a in baseline), flag.flag


def test_repeated_options_give_one_argument_each() -> None:
    args = _pod_args(
        "--label a=1 --label b=x=y --registry-mirror m1 --registry-mirror m2 --no-annotations"
    )
    assert [a for a in args if a.startswith(("--label", "--registry-mirror"))] == [
        "--registry-mirror=m1",
        "--registry-mirror=m2",
        "--label=a=1",
        "--label=b=x=y",
    ]


@pytest.mark.parametrize(
    ("image", "version"),
    [
        ("ghcr.io/osscontainertools/kaniko:v1.28.3", (1, 28, 3)),
        ("gcr.io/kaniko-project/executor:v1.23.2-debug", (1, 23, 2)),
        ("registry.local:5000/kaniko:1.9.0", (1, 9, 0)),
        ("gcr.io/kaniko-project/executor:latest", None),
        ("gcr.io/kaniko-project/executor@sha256:" + "a" * 64, None),
        ("registry.local:5000/kaniko", None),
    ],
    ids=["fork", "debug-suffix", "port-no-v", "latest", "digest", "no-tag"],
)
def test_the_release_is_read_from_the_tag(image: str, version: Any) -> None:
    assert executor_version(image) == version


def _release_before(version: tuple[int, int, int]) -> tuple[int, int, int]:
    major, minor, patch = version
    if patch:
        return (major, minor, patch - 1)
    return (major, minor - 1, 99) if minor else (major - 1, 99, 99)


@pytest.mark.parametrize("flag", EXECUTOR_FLAGS, ids=lambda f: f.flag)
def test_an_option_too_new_for_the_executor_is_refused_naming_the_release(flag: Any) -> None:
    argument = f"{flag.flag}{_sample(flag)[1]}"
    since = ".".join(map(str, flag.since))
    older = ".".join(map(str, _release_before(flag.since)))
    check_executor_version(f"gcr.io/kaniko-project/executor:v{since}", [argument])  # accepted
    with pytest.raises(SpecError, match=rf"{flag.flag} needs executor v{since} or later"):
        check_executor_version(f"gcr.io/kaniko-project/executor:v{older}", [argument])


def test_the_command_line_refuses_an_old_executor_before_showing_anything(tmp_path: Path) -> None:
    op = tmp_path / "op.yaml"
    op.write_text(SEED)
    out, err = io.StringIO(), io.StringIO()
    argv = ["build", str(op), "--dry-run", "--image-format", "oci"]
    argv += ["--executor-image", "gcr.io/kaniko-project/executor:v1.23.2"]
    assert main(argv, out, err) == 2
    assert out.getvalue() == ""
    (line,) = [x for x in err.getvalue().splitlines() if "error" in x]
    assert "--image-format needs executor v1.28.1 or later" in line
    assert "is v1.23.2: choose a newer executor (--executor-image)" in line


def test_the_default_executor_takes_every_option() -> None:
    words = " ".join(f"{f.flag} {_sample(f)[0]}".strip() for f in EXECUTOR_FLAGS)
    args = _pod_args(words)
    assert all(any(a.startswith(f.flag) for a in args) for f in EXECUTOR_FLAGS)


def test_executor_arg_passes_what_has_no_option() -> None:
    args = _pod_args("--executor-arg=--ignore-path=/var/mail --executor-arg=--cleanup")
    assert args.count("--ignore-path=/var/mail") == 1
    assert args.count("--cleanup") == 1


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("--destination=evil.example.com/x", r"polymagic sets --destination itself"),
        ("--digest-file=/tmp/x", r"polymagic sets --digest-file itself"),
        ("--label=a\nRUN x", r"printable, on one line"),
        ("cleanup", r"give one executor flag as --flag or --flag=value"),
    ],
    ids=["destination", "digest-file", "newline", "not-a-flag"],
)
def test_executor_arg_refuses_what_polymagic_manages_or_cannot_show(arg: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        KanikoOptions(executor_args=(arg,))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"compression": "lz4"}, r"--compression `lz4`: choose gzip or zstd"),
        ({"image_format": "tar"}, r"--image-format `tar`: choose docker or oci"),
        ({"push_retry": 5000}, r"--push-retry 5000: give a whole number from 0 to 1000"),
        ({"labels": (("a", "x\x1b[2J"),)}, r"--label: each value printable"),
    ],
    ids=["compression", "image-format", "retries", "label-control"],
)
def test_bad_values_are_one_error_naming_the_option(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        KanikoOptions(**kwargs)


def test_what_the_image_holds_is_in_the_spec_hash_and_how_it_is_built_is_not() -> None:
    build = compile_operation(SEED)
    image = "ghcr.io/osscontainertools/kaniko:v1.28.3"
    plain = spec_hash_of(build, image, KanikoOptions())
    assert spec_hash_of(build, image, KanikoOptions(labels=(("a", "1"),))) != plain
    assert spec_hash_of(build, image, KanikoOptions(image_format="oci")) != plain
    for speed in ({"push_retry": 3}, {"registry_mirrors": ("m",)}, {"compressed_caching": False}):
        assert spec_hash_of(build, image, KanikoOptions(**speed)) == plain, speed


def test_the_team_settings_for_a_mirror_and_a_cache_repository_reach_the_pod(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from polymagic.app.settings import read_settings

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    settings = read_settings(
        tmp_path,
        environ={
            "POLYMAGIC_REGISTRY_MIRROR": "mirror.example.com, m2.example.com",
            "POLYMAGIC_CACHE_REPO": "registry.example.com/org/cache",
        },
    )
    args = _parser().parse_args(["build", "op.yaml"])
    options = build_options(args, context_dir=tmp_path, settings=settings)
    assert options.kaniko.registry_mirrors == ("mirror.example.com", "m2.example.com")
    assert options.kaniko.cache_repo == "registry.example.com/org/cache"
    given = _parser().parse_args(["build", "op.yaml", "--registry-mirror", "mine.example.com"])
    assert build_options(
        given, context_dir=tmp_path, settings=settings
    ).kaniko.registry_mirrors == ("mine.example.com",)
