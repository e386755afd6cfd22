"""Seeded generators of ``dockerfile`` init bodies for the differential tests (single-factor
cases over every pool value, then random combinations)."""

from __future__ import annotations

import random
from collections.abc import Callable

from tests.differential.common import (
    BASE_IMAGE,
    DIGEST,
    MISSING,
    Json,
    Pool,
    Values,
    json_copy,
    pick,
)

__all__ = ["dockerfile_bodies", "valid_leaning_dockerfile_body"]

IMAGES = Values(
    valid=(
        "python:3.11",
        "python:3.11-slim",
        "ubuntu",
        "tensorflow/tensorflow:2.0.1-py3",
        "reg.io:5000/org/img:tag",
        "localhost:5000/img",
        "localhost:5000/org/img:1.0",
        f"gcr.io/org/img@{DIGEST}",
        f"img@{DIGEST}",
        f"reg.io:5000/img@{DIGEST}",
        "UPPER/Case:Tag",
        "a",
        "org/img:",
        "img::",
        "http://reg.io/img:1",
        "https://reg.io:5000/org/img:tag",
        "https://img:1",
        "shop:1",
        "s:t:p",
        "h:x:y",
        "img\tname",
        "{{ image }}",
        "{{image}}",
        "{{ base }}:b:c",
        "prefix-{{ x }}",
        "{{ }}",
        "{{}}",
        "a b {{ x }}",
        "a/b/c/d:e",
    ),
    invalid=(
        f"org/img:1.0@{DIGEST}",
        "ghcr.io/o/i:v@sha256:abc",
        "a:b:c",
        "a:b:c:d",
        "reg:/x:y",
        "ftp://img:1",
        "img:tag@sha256:abc",
        "foo bar",
        " python",
        "python:3.11 ",
        "",
        None,
        1,
        True,
        1.5,
        ["python:3.11"],
        {"name": "python:3.11"},
        "http://a:b:c",
    ),
)
ENV_KEYS: Pool = ("KEY", "k2", "PATH", "", "with space", "1NUM", "{{ k }}")
ENV_VALUES: Pool = (
    "value",
    "",
    "with space",
    "a=b",
    1,
    0,
    -3,
    10**20,
    1.5,
    1e-7,
    1e22,
    -0.0,
    True,
    False,
    None,
    ["a", 1],
    {"k": "v"},
    "{{ x }}",
    '"quoted"',
    "ünïcode",
    "line1\nline2",
)
ENV_LIST_ITEMS = Values(
    valid=(["KEY", "value"], ["KEY", ""], ["KEY"], ["KEY", "v", "extra"], []),
    invalid=(
        ["KEY", 1],
        ["KEY", True],
        ["KEY", None],
        [1, "v"],
        ["KEY", ["v"]],
        "KEY=value",
        None,
        {"KEY": "value"},
    ),
)
ENV_WHOLE = Values(valid=({}, [], None, "{{ env }}"), invalid=("K=V", 5))
PATHS = Values(
    valid=(
        ["/usr/local/bin"],
        ["/usr/local/bin", "$HOME/bin"],
        [""],
        ["a b"],
        [],
        None,
        "{{ p }}",
    ),
    invalid=("/plain/str", [1], [None], [["nested"]], {"a": "b"}),
)
COPY_ENTRIES = Values(
    valid=(
        "requirements.txt",
        ".",
        "",
        "{{ c }}",
        ["src", "/dst"],
        ["only"],
        ["a", "b", "c"],
        [],
        ["{{ s }}", "{{ d }}"],
    ),
    invalid=([1, "b"], ["a", None], [["x"]], {"src": "a"}, None),
)
COPY_WHOLE = Values(valid=([], None, "{{ c }}"), invalid=("plain", {"a": "b"}, 3))
RUNS = Values(
    valid=(
        ["pip install x"],
        ["echo $HOME && ls", "set -e; echo 'hi'"],
        [""],
        ["a\nb"],
        ["{{ cmd }}"],
        ["{% raw %}x{% endraw %}"],
        [],
        None,
        "{{ run }}",
    ),
    invalid=("pip install x", [1], [None], [["a"]]),
)
LANG_ENVS = Values(valid=("en_US.UTF-8", "C", "", None, "{{ lang }}"), invalid=(1, True))
IDS = Values(
    valid=(
        1000,
        1,
        0,
        -1,
        2**31,
        "1000",
        "0",
        " 12 ",
        "1_000",
        True,
        False,
        1.0,
        "1.0",
        None,
        "{{ uid }}",
    ),
    invalid=("abc", "", 1.5, [1]),
)
STRS_OPTIONAL = Values(valid=("name", "", None, "{{ v }}"), invalid=(1, True))
FILENAMES = Values(valid=("Dockerfile", "Dockerfile.dev", "", None, "sub/Dockerfile"), invalid=(1,))
WORKDIRS = Values(
    valid=("/code", "/app", "", None, "relative", "/with space", "{{ w }}"), invalid=(1,)
)
WORKDIR_PATHS = Values(valid=(".", "./src", "", None, "{{ wp }}"), invalid=(1,))
SHELLS = Values(valid=("/bin/bash", "/bin/sh", "", None, "{{ shell }}"), invalid=(1,))
# Keys that are not camelCase aliases, each with a value of the right shape for its field.
OTHER_KEYS: dict[str, Json] = {
    "foo": "x",
    "lang_env": "C",
    "post_run_copy": ["x"],
    "workdir_path": ".",
    "copy_": ["x"],
    "Image": "x",
    "RUN": ["x"],
    "kind": "dockerfile",
    "envs": {"A": "b"},
}


def _env(rng: random.Random, invalid_rate: float) -> Json:
    shape = rng.random()
    if shape < 0.45:
        return {pick(rng, ENV_KEYS): pick(rng, ENV_VALUES) for _ in range(rng.randint(0, 3))}
    if shape < 0.9:
        return [ENV_LIST_ITEMS.draw(rng, invalid_rate) for _ in range(rng.randint(0, 3))]
    return ENV_WHOLE.draw(rng, invalid_rate)


def _copy(rng: random.Random, invalid_rate: float) -> Json:
    if rng.random() < 0.85:
        return [COPY_ENTRIES.draw(rng, invalid_rate) for _ in range(rng.randint(0, 3))]
    return COPY_WHOLE.draw(rng, invalid_rate)


def _values(values: Values) -> Callable[[random.Random, float], Json]:
    return lambda rng, invalid_rate: values.draw(rng, invalid_rate)


# key -> (a random value given an invalid rate, every value worth a single-factor case)
_DOCKERFILE_KEYS: dict[str, tuple[Callable[[random.Random, float], Json], Pool]] = {
    "image": (_values(IMAGES), (*IMAGES.every, MISSING)),
    "env": (
        _env,
        (
            *({k: "v"} for k in ENV_KEYS),
            *({"KEY": v} for v in ENV_VALUES),
            *([item] for item in ENV_LIST_ITEMS.every),
            *ENV_WHOLE.every,
        ),
    ),
    "path": (_values(PATHS), PATHS.every),
    "copy": (_copy, (*([e] for e in COPY_ENTRIES.every), *COPY_WHOLE.every)),
    "postRunCopy": (_copy, (*([e] for e in COPY_ENTRIES.every), *COPY_WHOLE.every)),
    "run": (_values(RUNS), RUNS.every),
    "langEnv": (_values(LANG_ENVS), LANG_ENVS.every),
    "uid": (_values(IDS), IDS.every),
    "gid": (_values(IDS), IDS.every),
    "username": (_values(STRS_OPTIONAL), STRS_OPTIONAL.every),
    "filename": (_values(FILENAMES), FILENAMES.every),
    "workdir": (_values(WORKDIRS), WORKDIRS.every),
    "workdirPath": (_values(WORKDIR_PATHS), WORKDIR_PATHS.every),
    "shell": (_values(SHELLS), SHELLS.every),
}


def _single_factor_bodies() -> list[Json]:
    bodies: list[Json] = [None, [], 5]  # not a mapping at all
    for key, (_, pool) in _DOCKERFILE_KEYS.items():
        for value in pool:
            body: dict[str, Json] = {"image": BASE_IMAGE}
            if value is MISSING:
                del body[key]
            else:
                body[key] = json_copy(value)
            bodies.append(body)
    bodies.extend({"image": BASE_IMAGE, key: json_copy(v)} for key, v in OTHER_KEYS.items())
    # uid/gid only render together: cover each id value paired with a valid one.
    bodies.extend({"image": BASE_IMAGE, "uid": json_copy(v), "gid": 2000} for v in IDS.every)
    bodies.extend({"image": BASE_IMAGE, "uid": 1000, "gid": json_copy(v)} for v in IDS.every)
    bodies.extend(
        {"image": BASE_IMAGE, "uid": 1, "gid": 2, "username": json_copy(v)}
        for v in STRS_OPTIONAL.every
    )
    bodies.extend(
        {"image": BASE_IMAGE, "copy": ["a"], "postRunCopy": ["b"], "workdir": json_copy(v)}
        for v in WORKDIRS.every
    )
    bodies.extend(
        {"image": BASE_IMAGE, "workdirPath": ".", "workdir": json_copy(v)} for v in WORKDIRS.every
    )
    bodies.extend(
        {"image": BASE_IMAGE, "langEnv": "C", "shell": json_copy(v), "path": ["/p"]}
        for v in SHELLS.every
    )
    return bodies


def dockerfile_body(
    rng: random.Random, *, key_probability: float = 0.4, invalid_rate: float = 0.04
) -> dict[str, Json]:
    """One random ``dockerfile:`` body: several keys, each invalid with ``invalid_rate``."""
    body: dict[str, Json] = {}
    if rng.random() < 0.98:
        body["image"] = IMAGES.draw(rng, invalid_rate)
    for key, (make, _) in _DOCKERFILE_KEYS.items():
        if key != "image" and rng.random() < key_probability:
            body[key] = make(rng, invalid_rate)
    if rng.random() < 0.04:
        key = rng.choice(list(OTHER_KEYS))
        body[key] = json_copy(OTHER_KEYS[key])
    return body


def valid_leaning_dockerfile_body(rng: random.Random) -> dict[str, Json]:
    """A body for use inside operations: mostly valid, sometimes with templates."""
    body = dockerfile_body(rng, key_probability=0.25, invalid_rate=0.02)
    if rng.random() < 0.1:
        # A dockerfile body is itself resolved by the compiler: templates inside it.
        body["run"] = ["echo {{ destination }} {{ cache_ttl }}"]
    return body


def dockerfile_bodies(seed: int, random_count: int) -> list[Json]:
    """Every single-factor body, then ``random_count`` random ones (deterministic)."""
    rng = random.Random(seed)
    bodies = _single_factor_bodies()
    bodies.extend(dockerfile_body(rng) for _ in range(random_count))
    return bodies
