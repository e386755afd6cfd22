"""Seeded generators of ``hubRef: kaniko`` build operations for the differential tests, with
``-P`` overrides and connection catalogs (single-factor cases, odd documents, then random
combinations)."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from tests.differential.common import BASE_IMAGE, DIGEST, MISSING, Json, Pool, json_copy, pick
from tests.differential.dockerfile_cases import valid_leaning_dockerfile_body

__all__ = ["CompileCase", "compile_case", "compile_cases"]

CONNECTION_NAMES: Pool = ("registry", "docker-connection", "my_reg", "reg2")
REGISTRY_SCHEMAS: Pool = (
    {"url": "registry.example.com/org"},
    {"url": "registry.example.com/org/"},
    {"url": "https://registry.example.com/org"},
    {"url": "http://localhost:5000/"},
    {"url": "localhost:5000"},
    {"url": ""},
    {"url": "reg.io", "insecure": True},
    {},
    None,
    MISSING,
)
SECRETS: Pool = (
    {"name": "docker-conf", "mountPath": "/kaniko/.docker"},
    {"name": "regcred"},
    {"name": "regcred", "mountPath": "/kaniko/.docker", "items": ["config.json"]},
    MISSING,
)
DESTINATIONS: Pool = (
    "polyaxon/polyaxon-quick-start",
    "ml/trainer:v1",
    "reg.io:5000/org/img:tag",
    "img",
    f"org/img@{DIGEST}",
    "a:b:c",
    "foo bar",
    "",
    "{{ globals.name }}",
    "org/img:",
    5,
    True,
    ["org/img"],
    {"name": "org/img:1"},
    None,
)
CACHE_VALUES: Pool = (
    True,
    False,
    "true",
    "false",
    "yes",
    "no",
    "0",
    "1",
    0,
    1,
    "off",
    None,
    "maybe",
    2,
    1.5,
    "None",
    [1],
    {"a": 1},
)
CACHE_TTLS: Pool = (
    "1h",
    "30m",
    "",
    5,
    1.5,
    1e-7,
    10**20,
    True,
    [1],
    {"a": 1},
    None,
    "{{ globals.artifacts_path }}",
    "{{ cache }}",
)
CONTEXTS: Pool = (
    "/plx-context/artifacts/sub",
    "dir:///workspace",
    "git://github.com/org/repo.git#refs/heads/main",
    "",
    None,
    7,
    "{{ globals.context_path }}/x",
)
OVERRIDES: Pool = (
    "cache=false",
    "cache=true",
    "cache=0",
    "cache=1",
    "cache=yes",
    "cache=no",
    "cache=off",
    "cache=on",
    "cache=False",
    "cache=TRUE",
    "cache=maybe",
    "cache=",
    "destination=org/img:v2",
    "destination=a:b:c",
    "destination=foo bar",
    "destination=reg.io:5000/org/img:tag",
    "destination=",
    "cache_ttl=5m",
    "cache_ttl=",
    "cache_ttl=10",
    "context=dir:///workspace",
    "context=/plx-context/artifacts/sub",
    "context=a=b",
    "context=",
    "cache=None",
    "cache=null",
    "cache_ttl=None",
    "cache_ttl=[1, 2]",
    "cache_ttl={'a': 1}",
    "cache_ttl=1e-7",
    "destination=None",
    "destination=5",
    "context=null",
    # malformed (keep last: the random cases draw them rarely). Not "=x": Polyaxon reads it
    # as an undeclared param named "", a deliberate difference.
    "cache",
    "",
    "destination",
)
TEMPLATES: Pool = (
    "{{ destination }}",
    "{{ cache_ttl }}",
    "{{ cache }}",
    "{{ context }}",
    "{{ params.destination.value }}",
    "{{ params.destination.connection }}",
    "{{ params.cache.value }}",
    "{{ params.cache.as_arg }}",
    "{{ params.cache_ttl.as_str }}",
    "{{ globals.artifacts_path }}",
    "{{ globals.context_path }}",
    "{{ globals.store_path }}",
)
ENV_VAR_VALUES: Pool = (
    "1",
    "0",
    "true",
    "abc",
    "1.5",
    "",
    "None",
    "[1, 2]",
    "01",
    "1e3",
    *TEMPLATES[:4],
)
RESOURCES: Pool = (
    {"requests": {"cpu": "1", "memory": "1Gi"}},
    {"limits": {"cpu": 2, "memory": "2Gi"}},
    {"requests": {"cpu": "500m"}, "limits": {"cpu": 1.5, "nvidia.com/gpu": 1}},
    {},
)
CONTAINERS: Pool = (
    {"image": "gcr.io/kaniko-project/executor:v1.24.0"},
    {"image": "a:b:c"},
    {"args": ["--no-push"]},
    {"args": ["--dockerfile=Dockerfile.dev", "--verbosity=debug"]},
    {"args": []},
    {"args": ["{{ destination }}", "--build-arg=X={{ cache_ttl }}"]},
    {"args": ["-c", "/workspace", "--cache-ttl={{ cache_ttl }}"]},
    {"command": ["/kaniko/executor"]},
    {"env": [{"name": "X", "value": "1"}]},
    {"env": [{"name": "Y", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]},
    {"resources": {"requests": {"cpu": "1"}}},
    {"name": "polyaxon-main"},
    {"workingDir": "/workspace"},
    {"imagePullPolicy": "Always"},
    {},
    {"env": []},
)
# Values of string-typed environment maps (labels, annotations, nodeSelector).
MAP_VALUES: Pool = (
    "ml",
    "1",
    "true",
    "",
    1,
    1.5,
    1e22,
    1e-7,
    10**20,
    True,
    None,
    [1, 2],
    {"a": 1},
    "{{ context }}",
)
ENVIRONMENTS: Pool = (
    {"labels": {"team": "ml"}},
    {"labels": {"n": "1", "t": "{{ cache_ttl }}"}},
    {"nodeSelector": {"disk": "ssd"}},
    {"serviceAccountName": "builder"},
    {"annotations": {"a": "b"}},
    {"tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]},
    {"restartPolicy": "Never"},
    {},
    {"labels": {}},
    {"tolerations": []},
)
VOLUMES: Pool = (
    [{"name": "cache", "emptyDir": {}}],
    [{"name": "docker", "secret": {"secretName": "regcred"}}],
    [],
)
OTHER_INITS: Pool = (
    {"git": {"url": "https://github.com/org/repo"}},
    {"file": {"content": "hello", "filename": "a.txt"}},
    {"dockerfile": {"image": "python:3.11"}, "path": "/plx-context/artifacts/sub"},
)
STRATEGIES: Pool = ("post_merge", "pre_merge", "replace", "isnull", MISSING)
TERMINATIONS: Pool = (
    {"maxRetries": 2},
    {"ttl": 60},
    {"timeout": 600},
    {"maxRetries": 0, "ttl": 0, "timeout": 1},
    {"timeout": "600"},
    {"timeout": "{{ t }}"},
    {},
)
HUB_REFS: Pool = ("kaniko", "kaniko:latest", "kaniko:1.2")


@dataclass
class CompileCase:
    """An operation with its ``-P`` overrides and connection catalog."""

    op: dict[str, Json]
    params: list[str] = field(default_factory=list)
    connections: list[dict[str, Json]] = field(default_factory=list)
    raw: dict[str, str] = field(default_factory=dict)
    """Placeholder -> raw YAML scalar, substituted into the dumped text (``yes``, ``010``)."""

    def op_text(self) -> str:
        text = yaml.safe_dump(self.op, sort_keys=False, allow_unicode=True)
        for placeholder, token in self.raw.items():
            text = text.replace(placeholder, token)
        return text


def _connection(rng: random.Random, name: str) -> dict[str, Json]:
    entry: dict[str, Json] = {"name": name, "kind": "registry"}
    schema = _pick_maybe(rng, REGISTRY_SCHEMAS)
    if schema is not MISSING:
        entry["schema"] = schema
    secret = _pick_maybe(rng, SECRETS)
    if secret is not MISSING:
        entry["secret"] = secret
    return entry


def _pick_maybe(rng: random.Random, pool: Pool) -> Json:
    value = rng.choice(list(pool))
    return value if value is MISSING else json_copy(value)


def _base_op(hub_ref: str = "kaniko") -> dict[str, Json]:
    return {
        "version": 1.1,
        "kind": "operation",
        "name": "build",
        "params": {"destination": {"connection": "registry", "value": "ml/trainer:v1"}},
        "runPatch": {"init": [{"dockerfile": {"image": BASE_IMAGE, "run": ["pip install x"]}}]},
        "hubRef": hub_ref,
    }


def _base_catalog() -> list[dict[str, Json]]:
    return [
        {
            "name": "registry",
            "kind": "registry",
            "schema": {"url": "registry.example.com/org"},
            "secret": {"name": "docker-conf", "mountPath": "/kaniko/.docker"},
        }
    ]


def _with(op: dict[str, Json], path: Sequence[str], value: Json) -> dict[str, Json]:
    """A copy of ``op`` with ``value`` at ``path`` (``MISSING`` deletes it)."""
    out: dict[str, Json] = json_copy(op)
    node = out
    for key in path[:-1]:
        node = node.setdefault(key, {})
    if value is MISSING:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = json_copy(value)
    return out


def _with_in_lists(op: dict[str, Json], path: Sequence[str], value: Json) -> dict[str, Json]:
    """Like ``_with``, where a digit step indexes into an existing list."""
    out: dict[str, Json] = json_copy(op)
    node: Any = out
    for key in path[:-1]:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    node[path[-1]] = value
    return out


def _single_factor_compiles() -> list[CompileCase]:
    base = _base_op()
    catalog = _base_catalog()
    cases: list[CompileCase] = [CompileCase(_base_op(ref), [], catalog) for ref in HUB_REFS]

    def add(op: dict[str, Json], params: Sequence[str] = (), conns: Json = None) -> None:
        cases.append(CompileCase(op, list(params), json_copy(catalog if conns is None else conns)))

    # destination: full form, short form, no connection, connection only, absent.
    for value in DESTINATIONS:
        add(_with(base, ("params", "destination", "value"), value))
        add(_with(base, ("params", "destination"), value))
    add(_with(base, ("params", "destination"), {"value": "org/img"}))
    add(_with(base, ("params", "destination"), {"connection": "registry"}))
    add(_with(base, ("params",), MISSING))
    add(_with(base, ("params",), MISSING), ["destination=org/img:v2"])
    no_destination = _with(_with(base, ("params",), MISSING), ("patchStrategy",), "replace")
    add(_with(no_destination, ("runPatch", "connections"), []))
    for value in CACHE_VALUES:
        add(_with(base, ("params", "cache"), value))
        add(_with(base, ("params", "cache"), {"value": value}))
    for value in CACHE_TTLS:
        add(_with(base, ("params", "cache_ttl"), value))
    for value in CONTEXTS:
        add(_with(base, ("params", "context"), {"value": value}))
    add(_with(base, ("params", "context"), {"value": "/x", "contextOnly": True}))
    add(_with(base, ("params", "cache_ttl"), {"value": "2h", "toEnv": "CACHE_TTL"}))
    for item in OVERRIDES:
        add(base, [item])
    add(base, ["cache=true", "cache=false"])
    add(base, ["destination=a/b", "destination=a/b"])
    add(_with(base, ("params", "cache"), False), ["cache=yes"])
    # YAML scalars written raw into the operation text (YAML 1.1 booleans, octals, dates,
    # non-string keys), which JSON cannot carry.
    dockerfile = ("runPatch", "init", "0", "dockerfile")
    for path, token in (
        (("params", "cache"), "yes"),
        (("params", "cache"), "off"),
        (("params", "cache"), "'yes'"),
        (("params", "cache_ttl"), "010"),
        (("params", "cache_ttl"), "1_0"),
        (("params", "cache_ttl"), "2024-01-01"),
        (("params", "cache_ttl"), "1e3"),
        (("params", "cache_ttl"), ".inf"),
        (("params", "destination"), "2024-01-01"),
        (("params", "destination", "value"), "2024-01-01"),
        ((*dockerfile, "env", "D"), "2024-01-01"),
        ((*dockerfile, "env", "T"), "2024-01-01 10:00:00"),
        ((*dockerfile, "env", "O"), "010"),
        ((*dockerfile, "env", "N"), ".nan"),
        ((*dockerfile, "env"), "{1: a}"),
        ((*dockerfile, "env"), "{null: a}"),
        ((*dockerfile, "uid"), "010"),
        ((*dockerfile, "langEnv"), "2024-01-01"),
        ((*dockerfile, "run"), "[2024-01-01]"),
        (("runPatch", "environment", "labels", "d"), "2024-01-01"),
        (("runPatch", "container", "env"), "[{name: X, value: 2024-01-01}]"),
    ):
        op = _with_in_lists(base, path, "__RAW__")
        cases.append(CompileCase(op, [], json_copy(catalog), {"__RAW__": token}))
    # Catalogs: every schema and secret shape for the destination's connection.
    for schema in REGISTRY_SCHEMAS:
        entry = dict(catalog[0])
        if schema is MISSING:
            entry.pop("schema")
        else:
            entry["schema"] = schema
        add(base, (), [entry])
    for secret in SECRETS:
        entry = dict(catalog[0])
        if secret is MISSING:
            entry.pop("secret")
        else:
            entry["secret"] = secret
        add(base, (), [entry])
    for name in CONNECTION_NAMES:
        add(
            _with(base, ("params", "destination", "connection"), name),
            (),
            [{**catalog[0], "name": name}],
        )
    add(
        base,
        (),
        [
            *catalog,
            {"name": "git-repo", "kind": "git", "schema": {"url": "https://github.com/o/r"}},
        ],
    )
    add(
        _with(base, ("params", "destination", "connection"), "store"),
        (),
        [{"name": "store", "kind": "host_path", "schema": {"hostPath": "/d", "mountPath": "/d"}}],
    )
    # runPatch: each part alone, under each strategy.
    for strategy in STRATEGIES:
        with_strategy = _with(base, ("patchStrategy",), strategy)
        for container in CONTAINERS:
            add(_with(with_strategy, ("runPatch", "container"), container))
        for value in ENV_VAR_VALUES:
            add(
                _with(
                    with_strategy,
                    ("runPatch", "container"),
                    {"env": [{"name": "V", "value": value}]},
                )
            )
        for resources in RESOURCES:
            add(_with(with_strategy, ("runPatch", "container"), {"resources": resources}))
        for environment in ENVIRONMENTS:
            add(_with(with_strategy, ("runPatch", "environment"), environment))
        for volumes in VOLUMES:
            add(_with(with_strategy, ("runPatch", "volumes"), volumes))
        for key in ("labels", "annotations", "nodeSelector"):
            for value in MAP_VALUES:
                add(_with(with_strategy, ("runPatch", "environment"), {key: {"k": value}}))
        add(_with(with_strategy, ("runPatch", "connections"), ["registry"]))
        add(_with(with_strategy, ("runPatch", "connections"), []))
        add(
            _with(
                with_strategy, ("runPatch", "connections"), ["{{ params.destination.connection }}"]
            )
        )
        add(
            _with(with_strategy, ("runPatch", "connections"), ["git-repo"]),
            (),
            [
                *catalog,
                {"name": "git-repo", "kind": "git", "schema": {"url": "https://github.com/o/r"}},
            ],
        )
        add(_with(with_strategy, ("runPatch", "init"), []))
        add(
            _with(
                with_strategy,
                ("runPatch", "init"),
                [{"dockerfile": {"image": BASE_IMAGE, "env": {"BIG": 10**20}}}],
            )
        )
        add(_with(with_strategy, ("runPatch", "kind"), "job"))
        add(_with(with_strategy, ("runPatch",), MISSING))
        for init in OTHER_INITS:
            add(_with(with_strategy, ("runPatch", "init"), [init]))
    for template in TEMPLATES:
        add(_with(base, ("runPatch", "container"), {"args": [template]}))
        add(_with(base, ("runPatch", "environment"), {"labels": {"x": template}}))
    for extra in _odd_documents():
        add(_with(base, extra[0], extra[1]))
    for termination in TERMINATIONS:
        add(_with(base, ("termination",), termination))
    for key, value in (
        ("name", MISSING),
        ("name", "my-build"),
        ("name", "kaniko_build"),
        ("name", "bad name"),
        ("version", MISSING),
        ("version", 1),
        ("description", "builds"),
        ("tags", ["build", "ml"]),
    ):
        add(_with(base, (key,), value))
    return cases


def _odd_documents() -> list[tuple[tuple[str, ...], Json]]:
    """(path, value) edits of the baseline operation that probe validation."""
    git = {"git": {"url": "https://github.com/org/repo"}}
    return [
        (("foo",), 1),
        (("version",), 2),
        (("patchStrategy",), "merge"),
        (("params", "cache"), {"value": False, "connection": "registry"}),
        (("params", "cache"), {"connection": "registry"}),
        (("params", "cache"), {"value": True, "contextOnly": True}),
        (("params", "destination", "toInit"), True),
        (("params", "destination", "foo"), 1),
        (("runPatch", "foo"), 1),
        (("runPatch", "kind"), "service"),
        (("runPatch", "container"), {"foo": 1}),
        # Deliberately stricter (see test_compiler): args/command as a bare string or with
        # non-string items are refused by polymagic, which Polyaxon keeps (or splits into
        # characters), so they are not compared here.
        (("runPatch", "container"), {"env": [{"name": "X", "value": 1}]}),
        (("runPatch", "container"), {"env": [{"name": "X", "value": True}]}),
        (("runPatch", "container"), {"env": [{"name": "X", "value": None}]}),
        (("runPatch", "container"), {"env": [{"value": "x"}]}),
        (("runPatch", "container"), {"resources": {"requests": {"cpu": [1]}}}),
        (("runPatch", "container"), {"resources": {"foo": {"cpu": 1}}}),
        (("runPatch", "container"), "{{ c }}"),
        (("runPatch", "environment"), {"restartPolicy": "Sometimes"}),
        (("runPatch", "environment"), {"labels": "{{ l }}"}),
        (("runPatch", "environment"), {"foo": 1}),
        (("runPatch", "connections"), "registry"),
        (("runPatch", "connections"), "{{ c }}"),
        (("runPatch", "connections"), ["registry", "registry"]),
        (("runPatch", "volumes"), [{"emptyDir": {}}]),
        (("runPatch", "volumes"), [{"name": "v", "foo": {}}]),
        (("runPatch", "sidecars"), [{"name": "s", "image": "busybox"}]),
        (("runPatch", "init"), [{"dockerfile": "{{ d }}"}]),
        (("runPatch", "init"), [{**git, "dockerfile": {"image": BASE_IMAGE}}]),
        (("runPatch", "init"), [{}]),
        (("runPatch", "init"), [{"dockerfile": {"image": BASE_IMAGE}, "foo": 1}]),
        (
            ("runPatch", "init"),
            [{"dockerfile": {"image": BASE_IMAGE}, "container": {"name": "c", "image": "i"}}],
        ),
        (("runPatch", "init"), "{{ i }}"),
        (("runPatch", "container"), {"args": ["{{ connections['registry'].url }}"]}),
        (("runPatch", "container"), {"args": ["{{ globals.iteration }}"]}),
        (("runPatch", "container"), {"args": ["{{ params.as_args }}"]}),
        (("runPatch", "container"), {"args": ["{{ destination | upper }}"]}),
        (("runPatch", "container"), {"args": ["{{ cache_ttl }}{{ cache }}"]}),
        (("runPatch", "container"), {"args": ["{% if cache %}yes{% endif %}"]}),
        (("runPatch", "container"), {"env": [{"name": "X", "value": "{{ params.cache.value }}"}]}),
        (("termination",), {"foo": 1}),
        (("tags",), "build"),
    ]


def _random_params(rng: random.Random, catalog_names: list[str]) -> dict[str, Json]:
    params: dict[str, Json] = {}
    roll = rng.random()
    if roll < 0.85:
        value = pick(rng, DESTINATIONS[:6]) if rng.random() < 0.85 else pick(rng, DESTINATIONS)
        if catalog_names and rng.random() < 0.8:
            params["destination"] = {"value": value, "connection": rng.choice(catalog_names)}
        elif rng.random() < 0.5:
            params["destination"] = {"value": value}
        else:
            params["destination"] = value
    for name, pool in (("cache", CACHE_VALUES), ("cache_ttl", CACHE_TTLS), ("context", CONTEXTS)):
        if rng.random() < 0.3:
            value = pick(rng, pool)
            params[name] = {"value": value} if rng.random() < 0.5 else value
    return params


def _random_overrides(rng: random.Random) -> list[str]:
    wellformed = OVERRIDES[:-3]
    items = [pick(rng, wellformed) for _ in range(rng.choice((0, 0, 1, 1, 2, 3)))]
    if rng.random() < 0.04:
        items.append(pick(rng, OVERRIDES[-3:]))
    return items


def _random_run_patch(
    rng: random.Random, catalog_names: list[str], destination_connection: str | None
) -> dict[str, Json]:
    patch: dict[str, Json] = {}
    if rng.random() < 0.85:
        inits: list[Json] = [{"dockerfile": valid_leaning_dockerfile_body(rng)}]
        if rng.random() < 0.15:
            inits.append(pick(rng, OTHER_INITS))
        patch["init"] = inits
    if rng.random() < 0.45:
        container: dict[str, Json] = {}
        for _ in range(rng.randint(1, 3)):
            container.update(pick(rng, CONTAINERS))
        if rng.random() < 0.4:
            container["env"] = [
                {"name": f"V{i}", "value": pick(rng, ENV_VAR_VALUES)}
                for i in range(rng.randint(1, 3))
            ]
        if rng.random() < 0.3:
            container["resources"] = pick(rng, RESOURCES)
        patch["container"] = container
    if rng.random() < 0.3:
        environment: dict[str, Json] = {}
        for _ in range(rng.randint(1, 3)):
            environment.update(pick(rng, ENVIRONMENTS))
        if rng.random() < 0.3:
            labels = environment.setdefault("labels", {})
            labels["v"] = pick(rng, MAP_VALUES)
        patch["environment"] = environment
    if rng.random() < 0.25 and catalog_names:
        names = rng.sample(catalog_names, rng.randint(0, len(catalog_names)))
        if destination_connection and rng.random() < 0.3:
            names.append("{{ params.destination.connection }}")
        patch["connections"] = names
    if rng.random() < 0.15:
        patch["volumes"] = pick(rng, VOLUMES)
    if rng.random() < 0.05:
        patch["kind"] = "job"
    return patch


def compile_case(rng: random.Random) -> CompileCase:
    """One random build operation, catalog and ``-P`` list."""
    names = rng.sample(list(CONNECTION_NAMES), rng.choice((0, 1, 1, 1, 2, 3)))
    catalog = [_connection(rng, name) for name in names]
    op: dict[str, Json] = {"kind": "operation"}
    if rng.random() < 0.7:
        op["version"] = rng.choice((1, 1.1))
    if rng.random() < 0.8:
        op["name"] = rng.choice(("build", "my-build", "kaniko_build"))
    params = _random_params(rng, names)
    if params or rng.random() < 0.5:
        op["params"] = params
    destination = params.get("destination")
    connection = destination.get("connection") if isinstance(destination, dict) else None
    patch = _random_run_patch(rng, names, connection)
    if patch or rng.random() < 0.2:
        op["runPatch"] = patch
    strategy = _pick_maybe(rng, STRATEGIES)
    if strategy is not MISSING:
        op["patchStrategy"] = strategy
    if rng.random() < 0.15:
        op["termination"] = pick(rng, TERMINATIONS)
    op["hubRef"] = pick(rng, HUB_REFS)
    if "globals.name" in json.dumps(op) and "name" not in op:
        # The oracle names an unnamed run "build"; a real server names it. Not comparable.
        op["name"] = "build"
    keys = list(op)
    rng.shuffle(keys)
    return CompileCase({k: op[k] for k in keys}, _random_overrides(rng), catalog)


def compile_cases(seed: int, random_count: int) -> list[CompileCase]:
    """Every single-factor operation, then ``random_count`` random ones (deterministic)."""
    rng = random.Random(seed)
    cases = _single_factor_compiles()
    cases.extend(compile_case(rng) for _ in range(random_count))
    return cases
