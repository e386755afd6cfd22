"""Robustness of compiling with ``-P`` overrides and connection catalogs.

The overrides and catalogs are mostly valid ones with varied leaves (:mod:`.strategies`), so a
good share of the examples compiles through them and reaches ``build_manifests``; the floors per
stage (:mod:`tests.reach`) keep it so.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import assume, given
from hypothesis import strategies as st

from polymagic.render.build_objects import SecretShape
from polymagic.spec.loader import load_connections
from tests.reach import Reach
from tests.robustness.chain import MANY, MEDIUM, SEED, attempt, run_all
from tests.robustness.strategies import (
    catalog_sources,
    connection_like,
    mutated_seed,
    operation_like,
    override_noise,
    overrides,
    shapes,
)


def test_compile_with_random_overrides(reach: Reach) -> None:
    @MANY
    @given(st.one_of(st.just(SEED), mutated_seed()), st.one_of(overrides, override_noise))
    def examples(doc: Any, params: Any) -> None:
        reach.example()
        run_all(doc, params=params, reach=reach)

    examples()
    reach.require(loaded=0.4, compiled=0.08, manifests=0.06)


def test_compile_with_random_connection_catalogs(reach: Reach) -> None:
    @MANY
    @given(catalog_sources, st.one_of(st.just(SEED), mutated_seed(), operation_like), shapes)
    def examples(source: Any, doc: Any, secret_shapes: dict[str, SecretShape]) -> None:
        reach.example()
        catalog, _ = attempt(load_connections, source)
        if catalog is None:
            return  # the catalog's own robustness is the point of this example
        reach.reached("catalog")
        run_all(doc, connections=catalog, shapes=secret_shapes, reach=reach)
        run_all(doc, connections=catalog, shapes=secret_shapes, params=["cache=false"])

    examples()
    reach.require(catalog=0.15, compiled=0.05, manifests=0.05)


def test_connection_catalog_is_used_by_the_build(reach: Reach) -> None:
    @MEDIUM
    @given(
        st.lists(connection_like, min_size=1, max_size=3),
        st.sampled_from(["docker-connection", "{{ 'x' }}", ""]),
    )
    def examples(connections: list[Any], param_connection: str) -> None:
        # Route the destination through a connection of the catalog so its url/secret are wired in.
        catalog, _ = attempt(load_connections, connections)
        assume(catalog is not None)
        reach.example()
        doc = copy.deepcopy(SEED)
        names = catalog.names()
        doc["params"]["destination"]["connection"] = names[0] if names else param_connection
        doc["runPatch"]["connections"] = names
        run_all(
            doc,
            connections=catalog,
            shapes={n: SecretShape.DOCKERCONFIGJSON for n in ("docker-conf", "regcred")},
            reach=reach,
        )

    examples()
    reach.require(compiled=0.15, manifests=0.15)
