"""Tests of ``polymagic.render.dockerignore``: Docker's ``.dockerignore`` semantics, its syntax errors,
its bounds, and agreement with two plain reference matchers on generated patterns and paths."""

from __future__ import annotations

import posixpath
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from polymagic.errors import SpecError
from polymagic.render import ignore_automaton
from polymagic.render.dockerignore import (
    MAX_BYTES,
    MAX_PATTERN_LENGTH,
    MAX_PATTERNS,
    DockerIgnore,
    glob_segment,
    load_dockerignore,
    parse_dockerignore,
)
from tests.reach import Reach
from tests.tiers import example_count

DOCS_MD = "*.md\n!README*.md\nREADME-secret.md"

IGNORE_CASES = [
    # Docker's documented examples
    ("# comment\n*/temp*", "somedir/temporary.txt", True),
    ("*/temp*", "somedir/temp", True),
    ("*/temp*", "temp", False),
    ("*/temp*", "somedir/temp/inside.txt", True),
    ("*/*/temp*", "somedir/subdir/temporary.txt", True),
    ("*/*/temp*", "somedir/temporary.txt", False),
    ("temp?", "tempa", True),
    ("temp?", "temp", False),
    ("temp?", "sub/tempa", False),
    ("*.md\n!README.md", "README.md", False),
    ("*.md\n!README.md", "CHANGES.md", True),
    (DOCS_MD, "README-secret.md", True),
    (DOCS_MD, "README-other.md", False),
    ("*.md\nREADME-secret.md\n!README*.md", "README-secret.md", False),
    ("**/*.go", "a.go", True),
    ("**/*.go", "x/y/z.go", True),
    ("**/*.go", "x/y/z.gone", False),
    # syntax
    ("*.pyc", "pkg/a.pyc", False),
    ("/build", "build/out.o", True),
    ("/build", "src/build", False),
    ("build/", "build/x", True),
    ("./foo", "foo", True),
    (" # not a comment", "# not a comment", True),
    ("\n\n   \nsecret\n", "secret", True),
    ("\ufeffsecret", "secret", True),
    ("[a-c].txt", "b.txt", True),
    ("[a-c].txt", "d.txt", False),
    ("a\\*b", "a*b", True),
    ("a\\*b", "axb", False),
    ("**", "any/thing", True),
    ("docs/**", "docs/a/b.md", True),
    ("docs/**", "docs", False),
    ("**/temp", "temp", True),
    ("**/temp", "a/b/temp", True),
    ("**/temp", "a/xtemp", False),
    # exceptions and the last match
    ("data\n!data/keep.txt", "data/keep.txt", False),
    ("data\n!data/keep.txt", "data/other.bin", True),
    ("data\n!data/keep.txt", "data", True),
    ("*\n!keep", "keep", False),
    ("*\n!keep", "dir/file", True),
    ("!a.txt\na.txt", "a.txt", True),
    ("a.txt\n!a.txt", "a.txt", False),
    ("*", ".", False),
    # moby's quirks, kept: its match types and its translation into a Go regular expression
    ("**foo", "barfoo", True),  # a leading ** is a plain suffix test
    ("a**b", "ab", True),  # a ** in the middle is "(.*/)?"
    ("a**b", "ax/b", True),
    ("a**b", "axb", False),
    ("foo**", "food", True),  # a trailing ** is a plain prefix test
    ("a.b", "axb", False),  # a dot is literal
    ("a+(b)|{c}$", "a+(b)|{c}$", True),
    ("\\d.txt", "7.txt", True),  # to Go's regexp, \d is a digit
    ("\\d.txt", "d.txt", False),
    ("[[:digit:]]x", "5x", True),  # a POSIX class inside [...]
    ("[a*]", "a", False),  # "[a[^/]*]": the class {a, [, ^, /}, repeated, then "]"
    ("[a*]", "]", True),
    ("[a*]", "a]", True),
    ("[a*]", "aa]", True),
    ("[a*]", "b]", False),
    ("[^a]x", "bx", True),
    ("[^a]x", "ax", False),
    ("**/*.go", "a\nb/c.go", False),  # "." in "(.*/)?" stops at a line break, as in Go
    ("*", "a\nb", True),  # "[^/]*" does not
    ("x^y", "x^y", True),  # no regexp: an exact match
    ("*^y", "x^y", False),  # in a regexp, ^ anchors the start
]


@pytest.mark.parametrize(
    ("text", "path", "excluded"),
    IGNORE_CASES,
    ids=[f"{t!r}-{p!r}" for t, p, _ in IGNORE_CASES],
)
def test_dockerignore_matches_like_docker(text: str, path: str, excluded: bool) -> None:
    assert parse_dockerignore(text).excludes(path) is excluded


def test_dockerignore_patterns_are_read_like_docker() -> None:
    ignore = parse_dockerignore("# c\n/a/../b/\n ! c \n//d\n")

    assert ignore.patterns == ("b", "!c", "d")
    assert ignore.has_exceptions


# Go's filepath.Match rejects these (its match_test.go), so Docker does too.
BAD_PATTERNS = [
    "!",
    "a[",
    "x\\",
    "[]a]",
    "[-]",
    "[x-]",
    "[-x]",
    "[a-b-c]",
    "[",
    "[^",
    "[^bc",
    "a/b[",
    "[a-\\",
    "\\é",  # Go's regexp: only ASCII punctuation may be escaped
    "\\c",
    "\\1",  # a back-reference
    "[c-a]",  # Go's regexp: a range out of order
    "[[:nope:]]",
]


@pytest.mark.parametrize("text", BAD_PATTERNS, ids=BAD_PATTERNS)
def test_bad_dockerignore_pattern_is_a_spec_error(text: str) -> None:
    with pytest.raises(SpecError, match=r"^\.dockerignore, line 1: ") as caught:
        parse_dockerignore(text)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("text", ["\\b", "a\\Qb", "\\pL"], ids=["b", "Q", "p"])
def test_regexp_escapes_polymagic_does_not_support_are_refused_clearly(text: str) -> None:
    with pytest.raises(SpecError, match="regular-expression escape"):
        parse_dockerignore(f"ok\n{text}")


@pytest.mark.parametrize(
    ("text", "path"),
    [("[\\-]", "-"), ("[x\\-]", "x"), ("[\\-x]", "-"), ("[\\]a]", "]"), ("[a-\u03b6]*", "\u03b1")],
    ids=["escaped-dash", "dash-last", "dash-first", "escaped-bracket", "unicode-range"],
)
def test_escapes_inside_classes_are_valid(text: str, path: str) -> None:
    assert parse_dockerignore(text).excludes(path)


def test_dockerfile_specific_ignore_file_wins(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("a")
    (tmp_path / "Build.dockerignore").write_text("b")

    assert load_dockerignore(tmp_path).patterns == ("a",)
    assert load_dockerignore(tmp_path, "Build").patterns == ("b",)
    assert load_dockerignore(tmp_path / "none").patterns == ()


# --------------------------------------------------------------------------- bounds


def test_a_huge_dockerignore_is_refused_unread(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("x\n" * (MAX_BYTES // 2 + 1))

    with pytest.raises(SpecError, match=rf"larger than {MAX_BYTES // 1024} KiB"):
        load_dockerignore(tmp_path)


def test_too_many_patterns_and_too_long_a_pattern_are_refused() -> None:
    with pytest.raises(SpecError, match=f"more than the {MAX_PATTERNS:,}"):
        DockerIgnore(["a"] * (MAX_PATTERNS + 1))
    with pytest.raises(SpecError, match=f"longer than {MAX_PATTERN_LENGTH}"):
        parse_dockerignore("a" * (MAX_PATTERN_LENGTH + 1))


def test_the_step_budget_ends_a_costly_match_with_one_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ignore_automaton, "MAX_STEPS", 2_000)
    # Each name leads to new automaton states: a budget, not the cache, has to stop it.
    ignore = parse_dockerignore("\n".join(f"*{c}*{c}*{c}*{c}*{c}*x" for c in "abcdefgh"))

    paths = ["".join("abcdefgh"[(n >> k) % 8] * (k + 1) for k in range(8)) for n in range(200)]

    with pytest.raises(SpecError, match=r"takes more than 2,000 steps") as caught:
        [ignore.excludes(path) for path in paths]
    assert "\n" not in str(caught.value)


def test_the_cache_is_dropped_when_full_and_answers_stay_right(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ignore_automaton, "_CACHE_LIMIT", 10)
    ignore = parse_dockerignore("*a*b*c\n!x*")

    expected = {"abc": True, "zaybxc": True, "xabc": False, "ab": False, "d/abc": False}
    expected["abc/d"] = True  # its parent folder matches

    assert [ignore.excludes(p) for p in list(expected) * 3] == list(expected.values()) * 3


@pytest.mark.parametrize(
    ("segment", "names"),
    [
        ("*.txt", {".hidden.txt", "a.txt"}),
        ("data?.csv", {"data1.csv"}),
        ("[ab].txt", {"a.txt"}),
        ("[^a].md", {"c.md"}),
        ("\\*", {"*"}),
    ],
    ids=["star", "question", "class", "negated", "escape"],
)
def test_copy_wildcard_segments_match_like_go(segment: str, names: set[str]) -> None:
    matcher = glob_segment(segment)
    every = {".hidden.txt", "a.txt", "data1.csv", "data10.csv", "c.md", "*", "b.py"}

    assert {n for n in every if matcher.step(matcher.start, n).accepts} == names


# --------------------------------------------------------------------------- reference 1
# A backtracking matcher written straight from the rules, over well-formed patterns.


@dataclass(frozen=True)
class Tok:
    kind: str  # lit, any, star, dstar, class
    text: str = ""
    negated: bool = False
    ranges: tuple[tuple[str, str], ...] = ()


def tokens(pattern: str) -> list[Tok]:
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            i += 3 if pattern.startswith("**/", i) else 2
            out.append(Tok("dstar"))
            continue
        if char == "*":
            out.append(Tok("star"))
        elif char == "?":
            out.append(Tok("any"))
        elif char == "\\":
            i += 1
            out.append(Tok("lit", pattern[i], negated=True))  # negated: "was escaped"
        elif char == "[":
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end]
            negated = body.startswith("^")
            body = body[1:] if negated else body
            ranges, j = [], 0
            while j < len(body):
                if j + 2 < len(body) and body[j + 1] == "-":
                    ranges.append((body[j], body[j + 2]))
                    j += 3
                else:
                    ranges.append((body[j], body[j]))
                    j += 1
            out.append(Tok("class", negated=negated, ranges=tuple(ranges)))
            i = end
        else:
            out.append(Tok("lit", char))
        i += 1
    return out


def reference_match(pattern: str, path: str) -> bool:
    toks = tokens(pattern)
    special = [t.kind != "lit" or t.negated for t in toks]
    if toks and toks[0].kind == "dstar" and not any(special[1:]):
        suffix = pattern[2:]  # moby's "suffix" match type
        return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
    if toks and toks[-1].kind == "dstar" and not any(special[:-1]):
        return path.startswith(pattern[:-2])  # "prefix"
    if not any(special):
        return path == pattern  # "exact"

    def at(ti: int, si: int) -> bool:
        if ti == len(toks):
            return si == len(path)
        tok, rest = toks[ti], path[si:]
        if tok.kind == "lit" and tok.text == "^" and not tok.negated:
            return si == 0 and at(ti + 1, si)  # in a regexp, "^" anchors the start
        if tok.kind == "lit":
            return rest[:1] == tok.text and at(ti + 1, si + 1)
        if tok.kind == "any":
            return rest[:1] not in ("", "/") and at(ti + 1, si + 1)
        if tok.kind == "class":
            inside = bool(rest) and any(lo <= rest[0] <= hi for lo, hi in tok.ranges)
            return bool(rest) and inside != tok.negated and at(ti + 1, si + 1)
        if tok.kind == "star":  # any run without "/"
            return any(at(ti + 1, si + k) for k in range(len(rest) + 1) if "/" not in rest[:k])
        if ti == len(toks) - 1:  # a trailing "**": anything on the same line
            return "\n" not in rest
        # "(.*/)?": nothing, or anything up to and including a "/" (without a line break)
        return at(ti + 1, si) or any(
            at(ti + 1, si + k + 1)
            for k in range(len(rest))
            if rest[k] == "/" and "\n" not in rest[:k]
        )

    return at(0, 0)


def reference_excludes(rules: list[tuple[bool, str]], path: str) -> bool:
    """Last match wins, over the path and each parent folder; the root is never excluded."""
    if path == ".":
        return False
    candidates = [path[:i] for i, c in enumerate(path) if c == "/"] + [path]
    excluded = False
    for exception, pattern in rules:
        if any(reference_match(pattern, c) for c in candidates):
            excluded = not exception
    return excluded


CHARS = "ab.-^"
literal = st.sampled_from([*CHARS, "\\*", "\\?", "\\[", "\\]"])
klass = st.builds(
    lambda neg, items: "[" + ("^" if neg else "") + "".join(items) + "]",
    st.booleans(),
    st.lists(st.sampled_from(["a", "b", ".", "a-b", "/", "^"]), min_size=1, max_size=3).filter(
        lambda items: items[0] != "^"  # a "^" first negates the class instead
    ),
)
token = st.one_of(literal, literal, st.just("*"), st.just("**"), st.just("?"), klass)
segment = st.lists(token, min_size=1, max_size=4).map("".join)
pattern = st.lists(segment, min_size=1, max_size=3).map("/".join)
name = st.text(st.sampled_from("ab.-^*?[]\n"), min_size=1, max_size=4)
path_strategy = st.lists(name, min_size=1, max_size=4).map("/".join)


def test_agrees_with_a_reference_matcher_written_from_the_rules(reach: Reach) -> None:
    @settings(
        max_examples=example_count(400),
        deadline=None,
        suppress_health_check=[HealthCheck.filter_too_much],
    )
    @given(
        st.lists(st.tuples(st.booleans(), pattern), min_size=1, max_size=4),
        st.lists(path_strategy, min_size=1, max_size=6),
    )
    def examples(rules: list[tuple[bool, str]], paths: list[str]) -> None:
        assume(all(posixpath.normpath(p) == p and not p.startswith("!") for _, p in rules))
        reach.example()
        ignore = DockerIgnore([("!" if exception else "") + p for exception, p in rules])
        for path in paths:
            assume(posixpath.normpath(path) == path)
            expected = reference_excludes(rules, path)
            assert ignore.excludes(path) == expected, (rules, path)
            reach.reached("excluded" if expected else "kept")

    examples()
    # Both verdicts, or the agreement says little.
    reach.require(excluded=0.15, kept=0.5)


# --------------------------------------------------------------------------- reference 2
# moby's own recipe, with Python's regexp engine (exponential, fine on small inputs), over any
# string: the translation's odd corners (a "*" inside a class) agree as well.


def moby_recipe(text: str) -> tuple[str, re.Pattern[str] | None]:
    """moby's ``Pattern.compile``: its match type, and its regexp compiled by Python."""
    out, kind, i, first = "^", "exact", 0, True
    while i < len(text):
        char = text[i]
        i += 1
        if char == "*" and text[i : i + 1] == "*":
            i += 1
            if text[i : i + 1] == "/":
                i += 1
            if i == len(text) and kind == "exact":
                kind = "prefix"
            else:
                out, kind = out + (".*" if i == len(text) else "(.*/)?"), "regexp"
            kind = "suffix" if first else kind
        elif char in "*?[]\\":
            out += {"*": "[^/]*", "?": "[^/]"}.get(char, char)
            if char == "\\":
                out += text[i]
                i += 1
            kind = "regexp"
        elif char in ".+()|{}$":
            out += "\\" + char
        else:
            out += char
        first = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "possible nested set" for "[["
        try:
            return kind, re.compile(out + r"\Z")
        except re.error:
            return kind, None


def recipe_matches(text: str, kind: str, regex: re.Pattern[str], path: str) -> bool:
    if kind == "exact":
        return path == text
    if kind == "prefix":
        return path.startswith(text[:-2])
    if kind == "suffix":
        return path.endswith(text[2:]) or (text[2:3] == "/" and path == text[3:])
    return regex.match(path) is not None


# Go's filepath.Match / regexp refuse some of these (see the table above): those are assumed
# away; patterns built from tokens are valid far more often than raw text, so most examples
# compare something.
recipe_text = st.one_of(
    st.text(st.sampled_from("ac.*?[]^-/\\"), min_size=1, max_size=8),
    st.lists(
        st.sampled_from(["a", "c", ".", "*", "**", "?", "[ac]", "[^a]", "[a-c]", "\\*", "^"]),
        min_size=1,
        max_size=4,
    ).map("".join),
    st.lists(
        st.lists(st.sampled_from(["a", "c", "*", "?", "[ac]"]), min_size=1, max_size=3).map(
            "".join
        ),
        min_size=1,
        max_size=3,
    ).map("/".join),
)


def test_agrees_with_mobys_recipe_run_by_python(reach: Reach) -> None:
    @settings(
        max_examples=example_count(600),
        deadline=None,
        suppress_health_check=[HealthCheck.filter_too_much],
    )
    @given(recipe_text, st.lists(path_strategy, min_size=1, max_size=6))
    def examples(text: str, paths: list[str]) -> None:
        assume(posixpath.normpath(text) == text and not text.startswith("/"))
        reach.example()
        try:
            ignore: DockerIgnore | None = DockerIgnore([text])
        except SpecError:
            ignore = None
        # Refused as Go refuses it (the table above checks which): nothing to compare.
        assume(ignore is not None)
        assert ignore is not None
        kind, regex = moby_recipe(text)
        assert regex is not None, text  # what Go's regexp accepts, Python's does here
        for path in paths:
            assume(posixpath.normpath(path) == path != ".")  # Docker never excludes the root
        reach.reached("compared")
        for path in paths:
            candidates = [path[:i] for i, c in enumerate(path) if c == "/"] + [path]
            expected = any(recipe_matches(text, kind, regex, c) for c in candidates)
            assert ignore.excludes(path) == expected, (text, path)
            reach.reached("excluded" if expected else "kept")

    examples()
    # Of the patterns drawn, how many DockerIgnore took and compared on every path.
    reach.require(compared=0.4, excluded=0.03, kept=0.5)
