"""The sanitiser's character classes against the Unicode database Python ships: every format
character and separator is escaped, every letter, mark, digit, symbol and space stays."""

from __future__ import annotations

import sys
import unicodedata

import pytest

from polymagic.printable import HIDDEN, has_hidden, hidden_characters, printable, visible

_ALL = [chr(code) for code in range(sys.maxunicode + 1) if not 0xD800 <= code < 0xE000]
_INVISIBLE = {"Cf", "Zl", "Zp", "Cc"}


def _by_category(wanted: set[str], exclude: bool = False) -> str:
    return "".join(c for c in _ALL if (unicodedata.category(c) in wanted) != exclude)


@pytest.mark.parametrize("sanitiser", [printable, visible], ids=["printable", "visible"])
def test_every_format_control_and_separator_character_is_escaped(sanitiser: object) -> None:
    assert callable(sanitiser)
    hiding = [c for c in _by_category(_INVISIBLE) if c not in "\t\n"]
    kept = [f"U+{ord(c):04X}" for c in hiding if c in sanitiser(f"a{c}b")]
    assert kept == []


def test_letters_marks_digits_symbols_and_spaces_of_every_script_stay() -> None:
    shown = _by_category(_INVISIBLE | {"Cn", "Co", "Cs"}, exclude=True)
    # The only changes are the few printable characters that show nothing.
    changed = {c for c in shown if printable(c) != c}
    assert changed == {c for c in shown if ord(c) in HIDDEN}
    assert {unicodedata.name(c) for c in changed} == {
        "COMBINING GRAPHEME JOINER",
        "HANGUL CHOSEONG FILLER",
        "HANGUL JUNGSEONG FILLER",
        "HANGUL FILLER",
        "HALFWIDTH HANGUL FILLER",
        "KHMER VOWEL INHERENT AQ",
        "KHMER VOWEL INHERENT AA",
    }


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "RUN curl x|sh # \r\x1b[2KRUN pip install numpy",
            "RUN curl x|sh # \\x0d\\x1b[2KRUN pip install numpy",
        ),
        ("FROM python\x07:3.11\u202e", "FROM python\\x07:3.11\\u202e"),
        ("a\n\tb\u2028c\x85", "a\n\tb\\u2028c\\x85"),
        ("\ud800", "\\ud800"),
        ("ordinary\ntext\n", "ordinary\ntext\n"),
    ],
    ids=["cr-and-erase-line", "bel-and-rlo", "tab-newline-kept", "surrogate", "nothing-to-do"],
)
def test_visible_removes_nothing_and_escapes_what_would_hide(text: str, shown: str) -> None:
    assert visible(text) == shown
    assert has_hidden(text) == (text != shown)


def test_hidden_characters_are_listed_once_in_order() -> None:
    assert hidden_characters("a\x1b[2K\r\x1b\u200b\nb") == ["\x1b", "\r", "\u200b"]
    assert hidden_characters("plain\ttext\n") == []


@pytest.mark.parametrize("runs", [10, 10_000], ids=["few-runs", "many-runs"])
def test_many_runs_are_escaped_the_same_way_as_few(runs: int) -> None:
    # Past a few thousand runs the rest of the text is translated in one go: same result.
    text = "a\x07\n\u200b\r\n\ud800" * runs
    assert printable(text) == "a\\x07\\x0a\\u200b\\x0d\\x0a\ufffd" * runs
    assert printable(text, keep_newlines=True) == "a\\x07\n\\u200b\n\ufffd" * runs
    assert visible(text) == "a\\x07\n\\u200b\\x0d\n\\ud800" * runs
