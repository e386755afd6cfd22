"""Terminal control in what a build prints, each case in a child bounded to 10 s and 1 GiB.

A RUN step's output reaches the user's terminal through the log follower and
``TerminalProgress``. Whatever it holds (a reset, cursor save/restore, charset switches, a bell,
C1 controls, OSC titles and clipboard writes, DCS strings), what is printed keeps the text and
loses the control: whole sequences are removed, every other control but tab is shown as
``\\xNN``, bidirectional controls as ``\\uNNNN``. Large and malformed sequences must not make the sanitiser slow.
"""

from __future__ import annotations

import json

import pytest

from tests.hostile.bounded import run_bounded

# (id, a log line as a RUN step prints it, what the plain terminal display shows of it)
CASES = [
    ("reset", "a\x1bcb", "ab"),
    ("cursor-save-restore", "a\x1b7\x1b[10;1Hx\x1b8b", "axb"),
    ("charset-switch", "\x1b(0lqqk\x1b(B box", "lqqk box"),
    ("charset-g1-and-shift", "\x1b)0\x0ex\x0fy", "\\x0ex\\x0fy"),
    ("bell", "done\x07", "done\\x07"),
    ("backspace-overwrite", "safe\x08\x08\x08\x08evil", "safe\\x08\\x08\\x08\\x08evil"),
    ("carriage-return", "10%\r100%", "10%\\x0d100%"),
    ("vertical-tab-form-feed", "a\x0bb\x0cc", "a\\x0bb\\x0cc"),
    ("nul-and-del", "a\x00b\x7fc", "a\\x00b\\x7fc"),
    ("osc-title-bel", "\x1b]0;pwned\x07text", "text"),
    ("osc-clipboard-st", "\x1b]52;c;cGF5bG9hZA==\x1b\\text", "text"),
    ("osc-hyperlink", "\x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\", "link"),
    ("osc-unterminated", "text\x1b]0;title to the end of the line", "text"),
    ("dcs", "a\x1bP+q544e\x1b\\b", "ab"),
    ("sos-pm-apc", "a\x1bXsos\x1b\\b\x1b^pm\x1b\\c\x1b_apc\x1b\\d", "abcd"),
    ("c1-csi", "a\u009b2Jb", "ab"),
    ("c1-osc", "a\u009d0;title\u009cb", "ab"),
    ("c1-nel-ind", "a\u0085b\u0084c", "a\\x85b\\x84c"),
    ("csi-private-mode", "\x1b[?1049h\x1b[?25lhidden", "hidden"),
    ("lone-escape-at-end", "text\x1b", "text\\x1b"),
    ("escape-escape", "a\x1b\x1b[2Jb", "a\\x1bb"),
    ("tab-is-kept", "a\tb", "a\tb"),
    ("colour-is-removed", "\x1b[31mred\x1b[0m", "red"),
    # Bidirectional controls reorder what is shown ("Trojan Source"): shown as \uNNNN.
    ("bidi-override", "ok \u202eredro\u202c done", "ok \\u202eredro\\u202c done"),
    (
        "bidi-isolates-and-marks",
        "\u2066a\u2069\u200e\u200f\u061c",
        "\\u2066a\\u2069\\u200e\\u200f\\u061c",
    ),
    ("bidi-in-kaniko-line", "\x1b[36mINFO\x1b[0m[0001] RUN x\u202e", "INFO[0001] RUN x\\u202e"),
    # Invisible and format characters (issue 21.6): a line could hide text or read as another.
    ("zero-width-space-joiners", "r\u200bm\u200c-\u200drf", "r\\u200bm\\u200c-\\u200drf"),
    ("word-joiner-and-bom", "\ufeffpip\u2060 install", "\\ufeffpip\\u2060 install"),
    ("line-paragraph-separators", "a\u2028b\u2029c", "a\\u2028b\\u2029c"),
    ("interlinear-annotation", "\ufff9safe\ufffahidden\ufffb", "\\ufff9safe\\ufffahidden\\ufffb"),
    (
        "tag-characters",
        "ok\U000e0001\U000e0072\U000e006d\U000e007f",
        "ok\\U000e0001\\U000e0072\\U000e006d\\U000e007f",
    ),
    ("soft-hyphen", "cu\u00adrl", "cu\\xadrl"),
    ("hangul-filler", "x\u3164y\uffa0z", "x\\u3164y\\uffa0z"),
    ("nel-esc-cr-bel-del", "a\u0085b\x1b\rd\x07e\x7f", "a\\x85b\\x1b\\x0dd\\x07e\\x7f"),
    ("emoji-with-variation-selector-stays", "\u2714\ufe0f done", "\u2714\ufe0f done"),
    (
        "accents-cjk-devanagari-stay",
        "caf\u00e9 \u65e5\u672c \u0928\u092e\u0938\u094d\u0924\u0947",
        "caf\u00e9 \u65e5\u672c \u0928\u092e\u0938\u094d\u0924\u0947",
    ),
    (
        "letters-of-rtl-scripts-stay",
        "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627",
        "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627",
    ),
]


@pytest.mark.parametrize(("line", "shown"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_terminal_display_shows_text_not_control(line: str, shown: str) -> None:
    code = f"""
import io, json
from polymagic.outcome.kaniko_log import KanikoLogParser
from polymagic.cli.terminal import TerminalProgress

stream = io.StringIO()
display = TerminalProgress(stream, tty=False)
for event in KanikoLogParser([]).feed({line!r}):
    display.on_event(event)
print(json.dumps(stream.getvalue()))
"""
    result = run_bounded(code)
    assert result.returncode == 0, result.explain()
    assert json.loads(result.stdout) == f"  {shown}\n"


def test_the_status_line_on_a_tty_has_only_its_own_control() -> None:
    # On a TTY the display redraws its status line with "\r ESC[K"; nothing else may get through.
    lines = [c[1] for c in CASES]
    code = f"""
import io, json
from polymagic.outcome.events import EventKind, ProgressEvent
from polymagic.outcome.kaniko_log import KanikoLogParser
from polymagic.cli.terminal import TerminalProgress

stream = io.StringIO()
display = TerminalProgress(stream, tty=True)
parser = KanikoLogParser(["FROM x", "RUN echo \\x1bc"])
for line in {lines!r} + ["INFO[0001] RUN echo \\x1bc"]:
    for event in parser.feed(line):
        display.on_event(event)
display.on_event(ProgressEvent(EventKind.WARNING, "registry said \\x1b]0;t\\x07\\x9b2J"))
display.on_event(ProgressEvent(EventKind.WAITING, "ErrImagePull: \\x1bc\\nsecond line"))
print(json.dumps(stream.getvalue()))
"""
    result = run_bounded(code)
    assert result.returncode == 0, result.explain()
    text = json.loads(result.stdout).replace("\r\x1b[K", "")
    assert [c for c in text if (c < " " and c not in "\t\n") or "\x7f" <= c <= "\x9f"] == []
    assert "polymagic: warning: registry said " in text


BIG = 8 << 20


@pytest.mark.parametrize(
    "text",
    [
        f"'\\x1b[' * {BIG // 2}",
        f"'\\x1b]' + 'a' * {BIG}",
        f"'\\x1b]' * {BIG // 2}",
        f"'\\x1bP' + '\\x1b' * {BIG}",
        f"'\\x9b' * {BIG}",
        f"'\\x1b' * {BIG}",
        f"'\\x1b[' + '1;' * {BIG // 2}",
        f"'\\x00\\x07\\x85' * {BIG // 3}",
        f"'\\ud800' * {BIG}",
        f"'\\u200b\\ufeff' * {BIG // 2}",
        f"'a\\U000e0041' * {BIG // 2}",
    ],
    ids=[
        "csi-openers",
        "osc-unterminated",
        "osc-openers",
        "dcs-full-of-escapes",
        "c1-csi",
        "escapes",
        "csi-endless-parameters",
        "controls",
        "surrogates",
        "zero-width-and-boms",
        "tag-characters",
    ],
)
def test_megabytes_of_malformed_sequences_are_cleaned_in_linear_time(text: str) -> None:
    code = f"""
import time
from polymagic.printable import printable
text = {text}
started = time.perf_counter()
out = printable(text)
elapsed = time.perf_counter() - started
assert not any(c < " " and c != "\\t" or "\\x7f" <= c <= "\\x9f" for c in out[:1000])
print(f"{{elapsed:.3f}}")
"""
    result = run_bounded(code)
    assert result.returncode == 0, result.explain()
    assert float(result.stdout) < 4, result.stdout
