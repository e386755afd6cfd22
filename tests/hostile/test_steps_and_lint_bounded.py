"""Step counting, the hidden-character and line-break lint rules and the views' escaping on
hostile Dockerfiles, each in a child bounded to 10 s and 1 GiB: many lines, long continuations,
a control on every line, heredoc openers, hundreds of thousands of values with line breaks."""

from __future__ import annotations

import pytest

from tests.hostile.bounded import run_bounded

STEPS = [
    ("continuations", "'FROM a\\n' + 'RUN x \\\\\\n' * 2_000_000 + 'y\\n'"),
    ("carriage-returns", "'FROM a\\n' + ('RUN a\\rb\\r\\x1b[2K\\n' * 1_000_000)"),
    ("comments-in-a-continuation", "'FROM a\\nRUN x \\\\\\n' + '# c\\n\\n' * 2_000_000 + 'y\\n'"),
    ("heredoc-openers", "'FROM a\\nRUN ' + '<<A ' * 1_000_000 + '\\n' + 'x\\nA\\n' * 1000"),
    ("one-long-line", "'FROM a\\nRUN ' + 'a\\u2028' * 8_000_000"),
]


@pytest.mark.parametrize("text", [c[1] for c in STEPS], ids=[c[0] for c in STEPS])
def test_counting_steps_is_bounded(text: str) -> None:
    code = f"""
import time
from polymagic.render.dockerfile import dockerfile_instructions
from polymagic.outcome.kaniko_log import KanikoLogParser
text = {text}
started = time.perf_counter()
steps = dockerfile_instructions(text)
parser = KanikoLogParser(steps)
print(len(steps), f"{{time.perf_counter() - started:.2f}}")
"""
    result = run_bounded(code)
    assert result.returncode == 0, result.explain()


def test_linting_many_hostile_values_is_bounded() -> None:
    code = """
import time
from polymagic.render.dockerfile import render_dockerfile
from polymagic.render.lint import polyaxon_findings
from polymagic.spec.loader import load_dockerfile_init
spec = load_dockerfile_init(
    {"image": "a:1", "run": [f"echo {n}\\x1b[2K\\nRUN id" for n in range(100_000)]}
)
text = render_dockerfile(spec)
started = time.perf_counter()
found = polyaxon_findings(spec, text, {"p": "x\\nRUN id"})
codes = [f.code for f in found]
assert codes.count("PM007") == 11 and codes.count("PM008") == 11, codes
print(f"{time.perf_counter() - started:.2f}")
"""
    result = run_bounded(code)
    assert result.returncode == 0, result.explain()
    assert float(result.stdout) < 5, result.stdout


def test_the_views_escape_a_large_hostile_dockerfile_in_bounded_time() -> None:
    code = """
from polymagic.notebook.views import DockerfileView
text = "FROM a\\n" + "RUN a\\r\\x1b[2K\\u202e\\u200b\\n" * 200_000
view = DockerfileView(text)
plain = view.plain()
assert "\\x1b" not in plain and "\\r" not in plain
print(len(plain))
"""
    result = run_bounded(code)
    assert result.returncode == 0, result.explain()
