"""Hypothesis strategies for the robustness tests, beside the tests that share them.

Two families:

- **noise**: documents, text and catalogs of any shape (``yaml_values``, ``python_values``,
  ``operation_noise``, ``connection_noise``, ``override_noise``): they prove that nothing but a
  ``PolymagicError`` comes out, and rarely get past the loader;
- **valid skeletons with varied leaves** (``operation_like``, ``mutated_seed``,
  ``connection_like``, ``overrides``): every field has a valid value most of the time and an odd
  one sometimes (:func:`mostly`), so a good share of the examples compiles and reaches
  ``build_manifests`` and the odd leaf is met deep inside the chain, not at its door.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import strategies as st
from pydantic import BaseModel

from polymagic.render.build_objects import SecretShape
from polymagic.spec import models
from tests.robustness.chain import RICH_SEED, SEED, paths_of, set_at


def _field_names() -> list[str]:
    names: set[str] = set()
    for obj in vars(models).values():
        if isinstance(obj, type) and issubclass(obj, BaseModel):
            names.update(info.alias or name for name, info in obj.model_fields.items())
    return sorted(names)


FIELD_NAMES = _field_names()
PARAM_NAMES = ["destination", "cache", "cache_ttl", "context"]
INTERESTING_STRINGS = [
    "",
    " ",
    "operation",
    "component",
    "job",
    "kaniko",
    "kaniko:1.2",
    "kaniko:latest",
    "kaniko:0.0",
    "polyaxon/kaniko",
    "docker-connection",
    "regcred",
    "post_merge",
    "pre_merge",
    "replace",
    "isnull",
    "Dockerfile",
    "Dockerfile.dev",
    "{{ destination }}",
    "{{ params.destination.connection }}",
    "{{ globals.artifacts_path }}",
    "{{ connections }}",
    "{{ undefined_name }}",
    "{{ 1 / 0 }}",
    "{{ [1, 2] }}",
    "{{ {'a': 1} }}",
    "{{ '{{ x }}' }}",
    "{% if %}",
    "{{",
    "}}",
    "https://registry.example.com/org",
    "http://",
    "registry.example.com:5000/org/img:tag",
    "a:b:c",
    "a b",
    "1",
    "1.5",
    "true",
    "None",
    "[1, 2]",
    "{}",
    "-f",
    "--dockerfile=x",
    "-d",
    "--digest-file=/x",
    "${PATH}",
    "\n",
    "\t",
    "a\nb",
    "ünïcödé ✓",
    "\u2028",
    "a" * 300,
    ".",
    "..",
    "/",
    "/plx-context/artifacts",
    "a/b",
]

text_values = st.one_of(st.text(max_size=20), st.sampled_from(INTERESTING_STRINGS))
yaml_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**60), max_value=10**60),
    st.floats(allow_nan=True, allow_infinity=True),
    text_values,
    st.dates(),
    st.datetimes(),
    st.binary(max_size=8),
)
yaml_keys = st.one_of(
    st.sampled_from(FIELD_NAMES),
    st.sampled_from(PARAM_NAMES),
    st.text(max_size=10),
    st.integers(min_value=-5, max_value=5),
    st.none(),
    st.booleans(),
)


def nested(
    leaves: st.SearchStrategy[Any], keys: st.SearchStrategy[Any] = yaml_keys
) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda kids: st.lists(kids, max_size=4) | st.dictionaries(keys, kids, max_size=5),
        max_leaves=25,
    )


yaml_values = nested(yaml_scalars)


class Opaque:
    """An object no serializer knows."""

    def __repr__(self) -> str:
        return "<opaque>"


python_scalars = st.one_of(
    yaml_scalars,
    st.decimals(allow_nan=True),
    st.complex_numbers(max_magnitude=10),
    st.times(),
    st.builds(Opaque),
)
python_keys = st.one_of(yaml_keys, st.tuples(st.integers(0, 3)), st.binary(max_size=4))
python_values = st.recursive(
    python_scalars,
    lambda kids: st.one_of(
        st.lists(kids, max_size=4),
        st.tuples(kids, kids),
        st.frozensets(st.integers(0, 9) | st.text(max_size=3), max_size=3),
        st.dictionaries(python_keys, kids, max_size=5),
    ),
    max_leaves=25,
)


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually the plausible value, sometimes anything at all."""
    return st.one_of(strategy, strategy, strategy, yaml_values)


images = st.one_of(
    st.sampled_from(
        ["tensorflow/tensorflow:2.0.1-py3", "python:3.11", "a:1", "reg.io:5000/org/img:tag"]
    ),
    text_values,
)
string_lists = st.lists(text_values, max_size=3)
dockerfile_like = st.fixed_dictionaries(
    {"image": _maybe(images)},
    optional={
        "env": _maybe(
            st.dictionaries(st.text(max_size=5), yaml_scalars, max_size=3)
            | st.lists(string_lists, max_size=3)
        ),
        "path": _maybe(string_lists),
        "copy": _maybe(st.lists(text_values | string_lists, max_size=3)),
        "postRunCopy": _maybe(st.lists(text_values | string_lists, max_size=3)),
        "run": _maybe(string_lists),
        "langEnv": _maybe(text_values),
        "uid": _maybe(st.integers(-1, 2000)),
        "gid": _maybe(st.integers(-1, 2000)),
        "username": _maybe(text_values),
        "filename": _maybe(
            st.sampled_from(["Dockerfile", "Dockerfile.dev", "a/b", "..", "", "x y"]) | text_values
        ),
        "workdir": _maybe(text_values),
        "workdirPath": _maybe(text_values),
        "shell": _maybe(text_values),
    },
)
file_like = st.fixed_dictionaries(
    {"content": _maybe(text_values)},
    optional={
        "filename": _maybe(text_values),
        "kind": _maybe(text_values),
        "chmod": _maybe(text_values),
    },
)
init_like = st.fixed_dictionaries(
    {},
    optional={
        "dockerfile": _maybe(dockerfile_like),
        "file": _maybe(file_like),
        "git": _maybe(
            st.fixed_dictionaries({}, optional={"url": text_values, "revision": text_values})
        ),
        "path": _maybe(
            st.sampled_from(["/plx-context/artifacts", "/other", "rel", ""]) | text_values
        ),
        "connection": _maybe(text_values),
        "artifacts": yaml_values,
    },
)
container_like = st.fixed_dictionaries(
    {},
    optional={
        "image": _maybe(images),
        "args": _maybe(string_lists),
        "command": _maybe(string_lists),
        "env": _maybe(
            st.lists(
                st.fixed_dictionaries({"name": text_values, "value": yaml_scalars}), max_size=2
            )
        ),
        "resources": _maybe(
            st.fixed_dictionaries({}, optional={"limits": yaml_values, "requests": yaml_values})
        ),
        "volumeMounts": _maybe(
            st.lists(st.dictionaries(text_values, yaml_scalars, max_size=3), max_size=2)
        ),
        "name": _maybe(text_values),
    },
)
environment_like = st.fixed_dictionaries(
    {},
    optional={
        key: yaml_values
        for key in (
            "labels",
            "annotations",
            "nodeSelector",
            "tolerations",
            "serviceAccountName",
            "imagePullSecrets",
            "restartPolicy",
            "hostNetwork",
            "priority",
            "securityContext",
        )
    },
)
run_like = st.fixed_dictionaries(
    {},
    optional={
        "kind": _maybe(st.sampled_from(["job", "service", "dag"])),
        "init": _maybe(st.lists(_maybe(init_like), max_size=3)),
        "container": _maybe(container_like),
        "environment": _maybe(environment_like),
        "connections": _maybe(st.lists(text_values, max_size=3)),
        "volumes": _maybe(
            st.lists(st.dictionaries(text_values, yaml_values, max_size=3), max_size=2)
        ),
        "sidecars": _maybe(st.lists(container_like, max_size=2)),
    },
)
param_like = st.one_of(
    yaml_scalars,
    st.fixed_dictionaries(
        {},
        optional={
            "value": yaml_values,
            "connection": _maybe(text_values),
            "ref": _maybe(text_values),
            "contextOnly": _maybe(st.booleans()),
            "toInit": _maybe(st.booleans()),
            "toEnv": _maybe(text_values),
        },
    ),
)
operation_noise = st.fixed_dictionaries(
    {"kind": _maybe(st.just("operation"))},
    optional={
        "version": _maybe(st.sampled_from([1, 1.1, 2, "1"])),
        "name": _maybe(text_values),
        "description": _maybe(text_values),
        "tags": _maybe(string_lists),
        "hubRef": _maybe(
            st.sampled_from(["kaniko", "kaniko:1.2", "kaniko:nope", "polyaxon/kaniko", "other"])
        ),
        "pathRef": _maybe(text_values),
        "params": _maybe(
            st.dictionaries(
                st.sampled_from(PARAM_NAMES) | st.text(max_size=8), param_like, max_size=4
            )
        ),
        "runPatch": _maybe(run_like),
        "patchStrategy": _maybe(st.sampled_from(["post_merge", "pre_merge", "replace", "isnull"])),
        "termination": _maybe(
            st.fixed_dictionaries(
                {},
                optional={"timeout": yaml_scalars, "maxRetries": yaml_scalars, "ttl": yaml_scalars},
            )
        ),
        "component": _maybe(
            st.fixed_dictionaries(
                {"kind": st.just("component"), "run": _maybe(run_like)},
                optional={"name": text_values},
            )
        ),
        "queue": yaml_values,
    },
)

odd_leaves = st.one_of(
    st.binary(min_size=1, max_size=4),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.dates(),
    st.datetimes(),
    st.sampled_from(INTERESTING_STRINGS),
    st.none(),
    st.booleans(),
)
odd_values = nested(odd_leaves, st.text(max_size=6) | st.sampled_from(FIELD_NAMES))


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        doc = doc[part]
    return doc


@st.composite
def plausible_operation(draw: st.DrawFn) -> dict[str, Any]:
    """The rich seed with one leaf (now and then two or three, or a whole sub-tree) swapped for
    an odd value."""
    doc: Any = copy.deepcopy(RICH_SEED)
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3]))):
        paths = [path for path in paths_of(doc) if len(path) >= 2]
        leaves = [p for p in paths if not isinstance(_at(doc, p), (dict, list))]
        where = draw(st.sampled_from([leaves] * 3 + [paths]))
        doc = set_at(doc, draw(st.sampled_from(where)), draw(odd_values))
    result: dict[str, Any] = doc
    return result


override_noise = st.one_of(
    st.lists(
        st.one_of(
            st.text(max_size=30),
            st.builds(
                lambda name, value: f"{name}={value}",
                st.sampled_from(PARAM_NAMES) | st.text(max_size=8),
                text_values
                | st.sampled_from(["false", "true", "0", "[1]", "{", "1" * 5000, "[" * 2000]),
            ),
        ),
        max_size=4,
    ),
    st.dictionaries(st.sampled_from(PARAM_NAMES) | st.text(max_size=8), yaml_values, max_size=3),
)

resource_like = st.fixed_dictionaries(
    {"name": _maybe(st.sampled_from(["docker-conf", "regcred", "cm"]) | text_values)},
    optional={
        "mountPath": _maybe(
            st.sampled_from(["/kaniko/.docker", "/plx-context/artifacts", "/x"]) | text_values
        ),
        "items": _maybe(string_lists),
        "defaultMode": _maybe(st.integers(-1, 1000)),
    },
)
connection_noise = st.fixed_dictionaries(
    {
        "name": _maybe(
            st.sampled_from(["docker-connection", "a_b", "a-b", "x" * 70]) | text_values
        ),
        "kind": _maybe(st.sampled_from(["registry", "git", "s3", "custom", "nope"])),
    },
    optional={
        "schema": _maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "url": _maybe(st.sampled_from(INTERESTING_STRINGS)),
                    "insecure": yaml_scalars,
                },
            )
        ),
        "secret": _maybe(resource_like),
        "configMap": _maybe(resource_like),
        "env": _maybe(st.lists(st.dictionaries(text_values, yaml_scalars, max_size=2), max_size=2)),
        "annotations": _maybe(st.dictionaries(text_values, text_values, max_size=2)),
        "description": _maybe(text_values),
        "tags": _maybe(string_lists),
    },
)
shapes = st.dictionaries(
    st.sampled_from(["docker-conf", "regcred", "cm"]) | st.text(max_size=5),
    st.sampled_from(list(SecretShape)),
    max_size=2,
)

YAML_ALPHABET = st.sampled_from(
    [
        *":-[]{}&*!|>'\"%@`#,?~ \t\n\r",
        "kind",
        "operation",
        "hubRef",
        "kaniko",
        "runPatch",
        "init",
        "dockerfile",
        "image",
        "params",
        "&a ",
        "*a",
        "<<",
        "---",
        "...",
        "!!binary",
        "!!python/object",
        "\ufeff",
    ]
)

# Fragments with anchors and aliases that fit anywhere a flow value does.
ANCHOR_FRAGMENTS = [
    "&a [*a]",
    "&a {k: *a}",
    "&a {k: [1, *a]}",
    "[&a x, *a, *a]",
    "&a {value: *a}",
    "&a [[[*a]]]",
    "{<<: &m {a: 1}, b: *m}",
    "&a {<<: *a}",
    "*undefined",
    "&a",
    "&a &b x",
    "!!binary /w==",
    "!!binary Zm9v",
    "!!python/object:object {}",
    "!!set {a, b}",
    "!!omap [a: 1]",
    "!!timestamp 2001-12-14",
    "!!float .nan",
    "!!int 0x_",
    "1" * 400,
    "-" + "9" * 5000,
    "0o" + "7" * 600,
    "1e99999",
    "{" * 200 + "}" * 200,
    "[" * 200 + "]" * 200,
]


# -- valid skeletons with varied leaves --------------------------------------------------------------


def mostly(valid: st.SearchStrategy[Any], odd: st.SearchStrategy[Any] | None = None) -> Any:
    """``valid`` seven times in eight, else an odd value (``odd_values`` unless given).

    (``st.one_of(valid, valid, ..., odd)`` would not do: hypothesis merges equal branches.)
    """
    other = odd_values if odd is None else odd
    return st.sampled_from([False] * 7 + [True]).flatmap(lambda is_odd: other if is_odd else valid)


printable = st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=24)
env_names = st.from_regex(r"[A-Z][A-Z0-9_]{0,7}", fullmatch=True)
label_keys = st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True)
label_values = st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True)
OK_IMAGES = [
    "python:3.11",
    "python:3.12-slim",
    "tensorflow/tensorflow:2.0.1-py3",
    "ubuntu:22.04",
    "reg.io:5000/org/img:tag",
    "gcr.io/org/img@sha256:" + "0123456789abcdef" * 4,
]
OK_RUN_LINES = ["pip install -U polyaxon", "echo $HOME && ls", "apt-get update", "set -e; make"]
OK_DESTINATIONS = ["polyaxon/polyaxon-quick-start", "org/img:1", "img", "team/app:v2"]

dockerfile_ok = st.fixed_dictionaries(
    {"image": mostly(st.sampled_from(OK_IMAGES))},
    optional={
        "env": mostly(
            st.dictionaries(env_names, printable | st.integers(0, 999), max_size=3)
            | st.lists(st.tuples(env_names, printable).map(list), max_size=3)
        ),
        "path": mostly(st.lists(st.sampled_from(["/usr/local/bin", "$HOME/bin"]), max_size=2)),
        "copy": mostly(
            st.lists(
                st.sampled_from(["requirements.txt", ".", "src"])
                | st.tuples(
                    st.sampled_from(["src", "a.txt"]), st.sampled_from(["/app", "/code/"])
                ).map(list),
                max_size=3,
            )
        ),
        "postRunCopy": mostly(st.lists(st.sampled_from(["out", "a.txt"]), max_size=2)),
        "run": mostly(st.lists(st.sampled_from(OK_RUN_LINES) | printable, max_size=3)),
        "langEnv": mostly(st.sampled_from(["en_US.UTF-8", "C.UTF-8"])),
        "uid": mostly(st.integers(0, 65535)),
        "gid": mostly(st.integers(0, 65535)),
        "username": mostly(st.sampled_from(["polyaxon", "user"])),
        "filename": mostly(st.sampled_from(["Dockerfile", "Dockerfile.dev", "build/Dockerfile"])),
        "workdir": mostly(st.sampled_from(["/code", "/app"])),
        "workdirPath": mostly(st.sampled_from([".", "./src"])),
        "shell": mostly(st.sampled_from(["/bin/bash", "/bin/sh"])),
    },
)
file_ok = st.fixed_dictionaries(
    {"content": mostly(printable)}, optional={"filename": mostly(st.just("notes.txt"))}
)
quantities = st.fixed_dictionaries(
    {},
    optional={
        "cpu": mostly(st.sampled_from(["1", "500m", "2"])),
        "memory": mostly(st.sampled_from(["1Gi", "512Mi"])),
    },
)
container_ok = st.fixed_dictionaries(
    {},
    optional={
        "args": mostly(st.lists(st.sampled_from(["--verbosity=info", "--cache=true"]), max_size=2)),
        "env": mostly(
            st.lists(st.fixed_dictionaries({"name": env_names, "value": printable}), max_size=2)
        ),
        "resources": mostly(
            st.fixed_dictionaries({}, optional={"limits": quantities, "requests": quantities})
        ),
    },
)
environment_ok = st.fixed_dictionaries(
    {},
    optional={
        "labels": mostly(st.dictionaries(label_keys, label_values, max_size=2)),
        "annotations": mostly(st.dictionaries(label_keys, printable, max_size=2)),
        "nodeSelector": mostly(st.dictionaries(label_keys, label_values, max_size=2)),
        "serviceAccountName": mostly(st.sampled_from(["builder", "default"])),
        "tolerations": mostly(
            st.just([{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}])
        ),
    },
)
run_patch_ok = st.fixed_dictionaries(
    {
        "init": st.tuples(
            st.fixed_dictionaries({"dockerfile": dockerfile_ok}),
            st.lists(st.fixed_dictionaries({"file": file_ok}), max_size=1),
        ).map(lambda parts: [parts[0], *parts[1]])
    },
    optional={
        "container": mostly(container_ok),
        "environment": mostly(environment_ok),
        "connections": mostly(st.just(["settings-connection"])),
    },
)
params_ok = st.fixed_dictionaries(
    {
        "destination": st.fixed_dictionaries(
            {
                "connection": mostly(st.just("docker-connection")),
                "value": mostly(st.sampled_from(OK_DESTINATIONS)),
            }
        )
    },
    optional={
        "cache": mostly(st.booleans()),
        "cache_ttl": mostly(st.sampled_from(["2h", "30m"])),
    },
)
operation_like = st.fixed_dictionaries(
    {
        "kind": mostly(st.just("operation")),
        "hubRef": mostly(st.just("kaniko")),
        "params": params_ok,
        "runPatch": run_patch_ok,
    },
    optional={
        "version": mostly(st.sampled_from([1, 1.1])),
        "name": mostly(st.sampled_from(["build", "my-build"])),
        "description": mostly(printable),
        "tags": mostly(st.lists(label_keys, max_size=2)),
        "termination": mostly(st.fixed_dictionaries({"timeout": st.integers(1, 3600)})),
    },
)
"""A build operation with every field valid most of the time: most compile, some do not."""


def _like(node: Any) -> st.SearchStrategy[Any]:
    """Another value of ``node``'s kind (a string for a string, ...), or now and then any value."""
    if isinstance(node, bool):
        same: st.SearchStrategy[Any] = st.booleans()
    elif isinstance(node, int):
        same = st.integers(0, 10_000)
    elif isinstance(node, str):
        same = st.sampled_from([node, *INTERESTING_STRINGS[:20]]) | printable
    elif isinstance(node, list):
        same = st.lists(st.sampled_from(node) if node else printable, max_size=3)
    elif isinstance(node, dict):
        same = st.just(copy.deepcopy(node))
    else:
        same = yaml_scalars
    return st.sampled_from([False] * 3 + [True]).flatmap(
        lambda anything: yaml_values if anything else same
    )


def _either(values: st.SearchStrategy[Any] | None, like: st.SearchStrategy[Any]) -> Any:
    if values is None:
        return like
    return st.booleans().flatmap(lambda given: values if given else like)


@st.composite
def mutated_seed(draw: st.DrawFn, values: st.SearchStrategy[Any] | None = None) -> Any:
    """The quick start or the rich seed with one to three changes: a leaf replaced by a value of
    its kind (or, with ``values``, half the time by one of those), a key deleted, or a key
    added."""
    doc: Any = copy.deepcopy(draw(st.sampled_from([SEED, RICH_SEED])))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from([p for p in paths_of(doc) if p]))
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        node = parent[path[-1]]
        if action == "delete":
            del parent[path[-1]]
        elif action == "add" and isinstance(node, dict):
            key = draw(st.sampled_from(FIELD_NAMES) | st.sampled_from(PARAM_NAMES))
            node[key] = draw(_either(values, _like(next(iter(node.values()), ""))))
        elif action == "add" and isinstance(node, list):
            node.insert(
                draw(st.integers(0, len(node))), copy.deepcopy(draw(st.sampled_from(node or [""])))
            )
        else:
            doc = set_at(doc, path, draw(_either(values, _like(node))))
    return doc


overrides = st.lists(
    mostly(
        st.one_of(
            st.sampled_from(OK_DESTINATIONS).map(lambda image: f"destination={image}"),
            st.booleans().map(lambda cache: f"cache={str(cache).lower()}"),
            st.sampled_from(["2h", "30m", "1d"]).map(lambda ttl: f"cache_ttl={ttl}"),
        ),
        override_noise.flatmap(
            lambda noise: st.sampled_from(noise if isinstance(noise, list) and noise else ["x"])
        ),
    ),
    max_size=3,
)
"""``-P name=value`` lists: mostly the seed's own params with other valid values."""

connection_name = st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)
registry_connection = st.fixed_dictionaries(
    {"name": mostly(connection_name), "kind": mostly(st.just("registry"))},
    optional={
        "schema": mostly(
            st.fixed_dictionaries(
                {
                    "url": mostly(
                        st.sampled_from(
                            ["https://registry.example.com/org", "reg.io:5000/team", "docker.io"]
                        )
                    )
                }
            )
        ),
        "secret": mostly(
            st.fixed_dictionaries(
                {
                    "name": mostly(st.sampled_from(["docker-conf", "regcred"])),
                    "mountPath": mostly(st.just("/kaniko/.docker")),
                }
            )
        ),
        "description": mostly(printable),
    },
)
custom_connection = st.fixed_dictionaries(
    {"name": mostly(connection_name), "kind": mostly(st.just("custom"))},
    optional={
        "configMap": mostly(
            st.fixed_dictionaries({"name": mostly(st.sampled_from(["cm", "settings"]))})
        ),
        "env": mostly(
            st.lists(st.fixed_dictionaries({"name": env_names, "value": printable}), max_size=2)
        ),
    },
)
connection_like = registry_connection | custom_connection
"""One connection of a catalog, valid most of the time."""


@st.composite
def catalog_like(draw: st.DrawFn) -> list[Any]:
    """A catalog whose first connection is the seed's ``docker-connection`` most of the time, so
    the seed's destination resolves through it."""
    connections = draw(st.lists(connection_like, min_size=1, max_size=3))
    if draw(st.sampled_from([True] * 3 + [False])) and isinstance(connections[0], dict):
        connections[0] = {**connections[0], "name": "docker-connection"}
    return connections


catalog_sources = st.one_of(
    catalog_like(),
    catalog_like().map(lambda data: {"connections": data}),
    catalog_like().map(lambda data: yaml.safe_dump(data, sort_keys=False)),
    st.lists(connection_noise, max_size=3),
    yaml_values,
    st.text(max_size=40),
)
"""A catalog in every form ``load_connections`` takes: mostly valid ones, then noise."""
