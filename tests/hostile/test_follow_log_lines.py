"""Hostile executor log lines, read the way a followed build reads them: bytes from the pod's log
stream (``Cluster.pod_log``, fed 64 KiB chunks by a stand-in for the API server's response),
then ``KanikoLogParser.feed``. Each case runs in a child bounded to 10 s and 1 GiB.

What any RUN step can print must neither stop the reader (an exception, a hang, memory growing
with a line's length) nor reach the screen whole: a line is cut at 16 KiB plus a marker, JSON is
only read under 64 KiB, and a line that cannot be read as Kaniko's is shown as it is.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.hostile.bounded import run_bounded

MAX_LINE = (
    16 * 1024
)  # polymagic.outcome.log_lines.MAX_LINE, written out so this file runs on any version

# A pod log whose body the child streams as the API server would; ``chunks()`` is set per case.
PRELUDE = """
import json, resource, sys, time
from polymagic.kube.client import Cluster
from polymagic.outcome.events import EventKind
from polymagic.outcome.kaniko_log import KanikoLogParser

class Response:
    def __init__(self, chunks):
        self._chunks = chunks
    def stream(self, amt, decode_content=True):
        yield from self._chunks()
    def release_conn(self):
        pass

def cluster(chunks):
    class Streamed(Cluster):
        def _send(self, *args, **kwargs):
            return Response(chunks)
        def __post_init__(self):
            # Where the requests are sent from since the REST plumbing left the class.
            if hasattr(Cluster, "__post_init__"):
                super().__post_init__()
                self._rest.send = self._send
    return Streamed(None, "ns", "https://apiserver", "test")

def follow(chunks):
    parser = KanikoLogParser(["FROM python:3.11", "RUN pip install x"])
    lines = []
    for line in cluster(chunks).pod_log("ns", "pod", "c", follow=True):
        events = parser.feed(line)
        lines.append([e.message for e in events if e.kind is EventKind.LOG])
    return parser, lines

def report(**values):
    values["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(json.dumps(values))
"""


def _child(body: str) -> dict[str, Any]:
    result = run_bounded(PRELUDE + body)
    assert not result.timed_out, result.explain()
    assert result.returncode == 0, result.explain()
    report: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    report["seconds"] = result.seconds
    return report


def test_a_32_mib_line_without_a_newline_is_cut_without_being_held() -> None:
    # Before: every chunk rescanned the whole pending line (19.5 s for this one) and the line
    # was kept whole in memory and in the parser's tail.
    report = _child(
        """
def chunks():
    chunk = b"x" * 65536
    for _ in range(512):
        yield chunk

started = time.perf_counter()
parser, lines = follow(chunks)
elapsed = time.perf_counter() - started
report(count=len(lines), line=lines[0][0], tail=list(parser.tail), elapsed=elapsed)
"""
    )
    expected = "x" * MAX_LINE + "… [truncated 32.0 MiB]"
    assert report["count"] == 1
    assert report["line"] == expected
    assert report["tail"] == [expected]
    assert report["elapsed"] < 3, report["elapsed"]  # (0.2 s here; the import is most of the rest)


def test_many_long_lines_keep_memory_bounded_in_bytes() -> None:
    # 200 lines of 8 MiB (1.6 GB in all): what is kept is 16 KiB a line, so the child's memory
    # does not grow with the lines' length (before: quadratic time, and 1.6 GB of tail).
    report = _child(
        """
def chunks():
    chunk = b"y" * 65536
    for _ in range(200):
        for _ in range(128):
            yield chunk
        yield b"\\n"

parser, lines = follow(chunks)
longest = max(len(line[0]) for line in lines)
report(count=len(lines), longest=longest, tail_chars=sum(len(t) for t in parser.tail))
"""
    )
    assert report["count"] == 200
    assert report["longest"] == MAX_LINE + len("… [truncated 8.0 MiB]")
    assert report["tail_chars"] <= 200 * (MAX_LINE + 64)
    assert report["peak_rss_mib"] < 400, report


@pytest.mark.parametrize("depth", [1_000, 5_000, 16_000, 100_000], ids=lambda d: f"depth-{d}")
@pytest.mark.parametrize("opener", ["[", '{"a":'], ids=["arrays", "objects"])
def test_json_nested_thousands_deep_is_shown_as_it_is(depth: int, opener: str) -> None:
    # Before: json.loads raised RecursionError out of the parser, which ended the build.
    report = _child(
        f"""
line = '{{"level":"info","msg":' + {opener!r} * {depth}
def chunks():
    yield line.encode() + b"\\n" + b"INFO[0001] RUN pip install x\\n"

parser, lines = follow(chunks)
report(first=lines[0], second=lines[1], step=parser.step, length=len(line))
"""
    )
    first = report["first"][0]
    kept = report["length"] if report["length"] <= MAX_LINE else MAX_LINE
    assert first.startswith('{"level":"info","msg":' + opener * 8)
    assert len(first) < kept + 64
    assert report["second"] == ["INFO[0001] RUN pip install x"]
    assert report["step"] == 1  # the next line is still read as Kaniko's


def test_json_over_64_kib_is_not_parsed() -> None:
    # A line handed to the parser directly (not cut by the stream): 100 KiB of valid JSON is
    # shown cut, and is not read as an executor message.
    report = _child(
        """
parser = KanikoLogParser([])
line = json.dumps({"level": "error", "msg": "error building image: " + "z" * 100_000})
events = parser.feed(line)
report(kinds=[e.kind.value for e in events], error=parser.error_line, tail=len(parser.tail[-1]))
"""
    )
    assert report["kinds"] == ["log"]
    assert report["error"] is None
    assert report["tail"] < MAX_LINE + 64


def test_json_messages_are_sanitised_after_decoding() -> None:
    # JSON escapes decode to real control characters: the message is cleaned after decoding.
    report = _child(
        r"""
parser = KanikoLogParser([])
parser.feed('{"level":"error","msg":"error building image: \u001b]0;pwned\u0007\u001bc boom"}')
report(error=parser.error_line)
"""
    )
    assert report["error"] == "error building image:  boom"


def test_lines_split_across_chunks_and_invalid_utf8() -> None:
    report = _child(
        """
def chunks():
    yield b"first \\xc3"
    yield b"\\xa9 line\\r\\nsec"
    yield b"ond \\xff\\xfe\\n\\n"
    yield b"last, no newline"

parser, lines = follow(chunks)
report(lines=lines)
"""
    )
    assert report["lines"] == [
        ["first é line"],
        ["second \ufffd\ufffd"],
        [""],
        ["last, no newline"],
    ]


def test_steps_are_matched_as_the_plain_definition_says_for_any_message() -> None:
    # The step matcher rules most messages out early; for any message (odd whitespace, tabs,
    # Unicode spaces, leading blanks) it must agree with the definition: the first step from
    # the current one on whose whitespace-normalised text equals the message's.
    report = _child(
        """
from hypothesis import given, settings, strategies as st

STEPS = ["ENV A b", "RUN pip  install x", "RUN\\tpip install x", "WORKDIR /code", "ENV A b"]
words = st.sampled_from(["ENV", "RUN", "WORKDIR", "A", "b", "pip", "install", "x", "/code", "run"])
spaces = st.sampled_from([" ", "  ", "\\t", "\\u00a0", "\\u2003", ""])
message = st.lists(st.tuples(spaces, words), max_size=5).map(
    lambda parts: "".join(s + w for s, w in parts)
)

def expected(steps, current, text):
    normal = " ".join(text.split())
    for index in range(current, len(steps)):
        if " ".join(steps[index].split()) == normal:
            return index + 1
    return None

checked = 0

@settings(max_examples=500, deadline=None, database=None)
@given(st.lists(message, max_size=8))
def agree(messages):
    global checked
    parser = KanikoLogParser(["FROM x", *STEPS])
    for text in messages:
        want = expected(parser.steps, parser.step, text)
        got = parser._match_step(text)
        assert got == want, (text, parser.step, got, want)
        if got is not None:
            parser.step = got
        checked += 1

agree()
report(checked=checked)
"""
    )
    assert report["checked"] > 500


def test_a_huge_startup_error_line_is_cut_and_cleaned_before_it_is_the_error() -> None:
    # `Error: ` starts the executor's startup error: a RUN step (or a crafted log) printing
    # 32 MiB of it, with terminal controls, gives an error line no longer than a shown line.
    report = _child(
        r"""
def chunks():
    yield b"Error: \x1b]0;pwned\x07\x1bc" + b"e" * (64 * 1024)
    for _ in range(511):
        yield b"e" * (64 * 1024)
    yield b"\n"
parser, lines = follow(chunks)
report(error_length=len(parser.error_line or ""), error_start=(parser.error_line or "")[:8],
       controls=any(c in (parser.error_line or "") for c in "\x1b\x07"))
"""
    )
    assert report["error_start"] == "eeeeeeee"
    assert report["error_length"] < MAX_LINE + 64
    assert report["controls"] is False
    assert report["seconds"] < 10
