"""Hostile templates: the Jinja sandbox blocked attribute access but not resource use. Each case
runs ``polymagic render`` in a child bounded to 10 s and 1 GiB and must be refused with one line
naming the bound it hit; normal templates must render exactly as Jinja's own sandbox does."""

from __future__ import annotations

from pathlib import Path

import jinja2.sandbox
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polymagic.errors import LimitError
from polymagic.spec.templating import render_value, template_budget
from tests.hostile.bounded import run_cli_bounded
from tests.hostile.test_spec_yaml import SEED, refused

CORPUS = Path(__file__).parent / "spec"


def with_lang_env(template: str) -> bytes:
    """The seed operation with ``template`` as the dockerfile's langEnv (a YAML single-quoted
    scalar, so the template is written as is)."""
    quoted = "'" + template.replace("'", "''") + "'"
    text = SEED.replace(
        'run: ["pip3 install polyaxon"]', f'run: ["pip3 install polyaxon"], langEnv: {quoted}'
    )
    return text.encode()


@pytest.mark.parametrize(
    ("name", "bound"),
    [
        ("template-power.yaml", "TEMPLATE_MAX_INT_BITS"),
        ("template-repeat.yaml", "TEMPLATE_MAX_VALUE"),
        ("template-self-reference.yaml", "rendering it again would never end"),
    ],
    ids=["power", "repeat", "self-reference"],
)
def test_the_issue_cases_are_refused_at_once(name: str, bound: str) -> None:
    refused(run_cli_bounded(["render", str(CORPUS / name)]), bound)


@pytest.mark.parametrize(
    ("template", "bound"),
    [
        pytest.param("{{ 7 ** 30000000 }}", "TEMPLATE_MAX_INT_BITS", id="power"),
        pytest.param(
            "{{ 10 ** 5000 * 10 ** 5000 * 10 ** 5000 * 10 ** 5000 }}",
            "TEMPLATE_MAX_INT_BITS",
            id="product",
        ),
        pytest.param("{{ 'a' * 10**9 }}", "TEMPLATE_MAX_VALUE", id="repeat-text"),
        pytest.param("{{ [1] * 10**9 }}", "TEMPLATE_MAX_VALUE", id="repeat-list"),
        pytest.param(
            "{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}"
            "{% endfor %}{{ ns.l|length }}",
            "TEMPLATE_MAX_VALUE",
            id="doubling-list",
        ),
        pytest.param(
            "{% set ns = namespace(a='x') %}{% for i in range(64) %}{% set ns.a = ns.a ~ ns.a %}"
            "{% endfor %}{{ ns.a|length }}",
            "TEMPLATE_MAX_VALUE",
            id="doubling-concat",
        ),
        pytest.param(
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            "TEMPLATE_MAX_STEPS",
            id="nested-loops",
        ),
        pytest.param(
            "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}",
            "TEMPLATE_MAX_STEPS",
            id="macro-tree",
        ),
        pytest.param(
            "{% for i in range(100000) %}{{ 'x' * 60000000 }}{% endfor %}",
            "TEMPLATE_MAX_",
            id="long-output",
        ),
        pytest.param("{{ 'x'.center(10**9) }}", "TEMPLATE_MAX_VALUE", id="center-method"),
        pytest.param("{{ 'x'|center(1000000000) }}", "TEMPLATE_MAX_VALUE", id="center-filter"),
        pytest.param("{{ '{:>1000000000}'.format(1) }}", "TEMPLATE_MAX_VALUE", id="format-width"),
        pytest.param("{{ '%0*d' % (1000000000, 1) }}", "TEMPLATE_MAX_VALUE", id="percent-width"),
        pytest.param(
            "{{ 1|map_format('%01000000000d') }}", "TEMPLATE_MAX_VALUE", id="map-format-width"
        ),
        pytest.param(
            "{{ range(100000)|join('x' * 100000) }}", "TEMPLATE_MAX_VALUE", id="join-separator"
        ),
        pytest.param(
            "{{ ('x' * 10000000)|replace('x', 'y' * 10) }}", "TEMPLATE_MAX_VALUE", id="replace"
        ),
        pytest.param("{{ lipsum(1000000) }}", "the function `lipsum` is not allowed", id="lipsum"),
        pytest.param("{{ x }}" * 20_000, "TEMPLATE_MAX_TAGS", id="many-tags"),
    ],
)
def test_runaway_templates_are_refused_naming_the_bound(template: str, bound: str) -> None:
    refused(run_cli_bounded(["render", "-"], stdin=with_lang_env(template)), bound)


def test_text_read_as_python_literals_is_bounded() -> None:
    # Polyaxon reads each run text as a Python literal: ~2 µs and ~500 bytes a character for a
    # dense list, so megabytes of them would take minutes and gigabytes.
    item = "[" + ",".join(["1"] * 150_000) + "]"
    run = ", ".join([f'"{item}"'] * 10)
    text = SEED.replace('run: ["pip3 install polyaxon"]', f"run: [{run}]")
    refused(run_cli_bounded(["render", "-"], stdin=text.encode()), "LITERAL_MAX_CHARS")


def test_long_plain_text_is_not_read_as_a_literal() -> None:
    # A 20 MB shell command cannot be a Python literal: it is not parsed, and renders as is.
    command = "echo " + "x" * 20_000_000
    text = SEED.replace('run: ["pip3 install polyaxon"]', f'run: ["{command}"]')
    result = run_cli_bounded(["render", "-", "--only", "dockerfile"], stdin=text.encode())
    assert result.returncode == 0, result.explain()
    assert f"RUN {command}\n" in result.stdout
    assert result.cpu_seconds < 5, result.explain()


# -- normal templates render exactly as Jinja's sandbox renders them ----------------------------

_PLAIN = jinja2.sandbox.SandboxedEnvironment(autoescape=False)
_CONTEXT = {"n": 7, "name": "img", "items": ["a", "b"], "flag": True, "none": None}

_EXPRESSIONS = st.sampled_from(
    [
        "n ** 3",
        "2 ** 64",
        "n * 6",
        "name * 3",
        "items * 2",
        "name + '-x'",
        "items + ['c']",
        "n + 1.5",
        "'%05d' % n",
        "'%s-%s' % (name, n)",
        "'%(a)s' % {'a': name}",
        "name ~ n ~ flag",
        "'{}:{:>4}'.format(name, n)",
        "items|join(',')",
        "name|replace('i', 'I')",
        "name|center(9)",
        "name|upper",
        "items|length",
        "range(5)|list",
        "range(3)|sum",
        "n // 2",
        "n % 3",
        "-n",
        "none",
        "flag and name",
        "items[0] ~ items[-1]",
        "(n * 2) ** 2",
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_EXPRESSIONS, min_size=1, max_size=4), st.booleans())
def test_bounded_rendering_matches_the_sandbox(expressions: list[str], loop: bool) -> None:
    body = "".join(f"{{{{ {e} }}}}|" for e in expressions)
    template = f"{{% for i in items %}}{{{{ i }}}}:{body}{{% endfor %}}" if loop else body
    expected = _PLAIN.from_string(template).render(**_CONTEXT)
    with template_budget():
        assert render_value(template + "#", _CONTEXT) == expected + "#"


def test_one_budget_counts_a_whole_compile() -> None:
    # 6,000 tags in each of two values: under the bound alone, over it together.
    context = {"x": "1"}
    template = "{{ x }}" * 6_000
    assert render_value(template, context) == "1" * 6_000
    with template_budget(), pytest.raises(LimitError, match="TEMPLATE_MAX_TAGS"):
        render_value([template, template], context)
