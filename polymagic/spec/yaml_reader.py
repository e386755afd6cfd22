"""Reading YAML text for the spec: files and streams within ``INPUT_MAX_BYTES`` (regular files
only, UTF-8), composed without recursion into data and a line map (``LineMap``: which line each
field came from), refusing alias expansion past ``YAML_MAX_NODES``, nesting past
``DOCUMENT_MAX_DEPTH`` and repeated keys. A YAML syntax error becomes one ``YamlSyntaxError``
naming its line (and a tab used as indentation as such). Never writes anything.
"""

from __future__ import annotations

import gc
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from polymagic.errors import DuplicateKeyError, LimitError, SpecError, YamlSyntaxError
from polymagic.limits import DOCUMENT_MAX_DEPTH, INPUT_MAX_BYTES, YAML_MAX_NODES, limit_text

__all__ = [
    "LineMap",
    "Path_",
    "decode_spec_bytes",
    "format_path",
    "parse_yaml",
    "read_spec_file",
    "read_spec_stream",
]

Path_ = tuple[Any, ...]
"""A field's place in a document: keys and list indexes from the root."""


def format_path(path: Path_) -> str:
    """``('runPatch', 'init', 0, 'dockerfile')`` → ``runPatch.init[0].dockerfile``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


class _LineTree:
    """The line of one key or list item, and those of its children."""

    __slots__ = ("children", "line")

    def __init__(self, line: int) -> None:
        self.line = line
        self.children: dict[Any, _LineTree] | None = None


@dataclass(frozen=True)
class LineMap:
    """Where each key and list item of a YAML document starts (1-based lines)."""

    root: _LineTree | None = None
    source: str | None = None

    def line_of(self, path: Path_) -> int | None:
        """The line of ``path``, or of its closest ancestor that has one."""
        tree = self.root
        if tree is None:
            return None
        for part in path:
            children = tree.children
            try:
                child = children.get(part) if children is not None else None
            except TypeError:  # an unhashable part cannot be a key of the document
                child = None
            if child is None:
                break
            tree = child
        return tree.line

    def nested(self, prefix: Path_) -> LineMap:
        """The part of this map under ``prefix``, re-rooted there."""
        tree = self.root
        for part in prefix:
            children = tree.children if tree is not None else None
            tree = children.get(part) if children is not None else None
        return LineMap(tree, self.source)


# -- reading ------------------------------------------------------------------------------


_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def read_spec_file(path: Path) -> str:
    """The UTF-8 text of a regular file of at most ``INPUT_MAX_BYTES``.

    A FIFO, a device or a directory is refused before anything is read from it, so a
    misdirected path fails at once instead of blocking or reading forever.
    """
    # Non-blocking, so that opening a FIFO returns at once and the check below can refuse it.
    flags = os.O_RDONLY
    for name in ("O_NONBLOCK", "O_NOCTTY", "O_CLOEXEC"):
        flags |= getattr(os, name, 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError as exc:
        raise SpecError(f"file not found: {path}") from exc
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise SpecError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
            raise SpecError(f"cannot read {path}: it is {kind}; give the path of a regular file")
        if info.st_size > INPUT_MAX_BYTES:
            raise _too_big(str(path), info.st_size)
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with handle:
        try:
            data = handle.read(INPUT_MAX_BYTES + 1)
        except OSError as exc:
            raise SpecError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(data) > INPUT_MAX_BYTES:  # it grew while we read it
        raise _too_big(str(path), len(data))
    return decode_spec_bytes(data, str(path))


def read_spec_stream(stream: BinaryIO, name: str = "standard input") -> str:
    """The UTF-8 text of a byte stream (stdin), reading at most ``INPUT_MAX_BYTES``."""
    try:
        data = stream.read(INPUT_MAX_BYTES + 1)
    except OSError as exc:
        raise SpecError(f"cannot read {name}: {exc.strerror or exc}") from exc
    if len(data) > INPUT_MAX_BYTES:
        raise _too_big(name, None)
    return decode_spec_bytes(data, name)


def decode_spec_bytes(data: bytes, source: str) -> str:
    """``data`` as UTF-8 text; an undecodable byte is named with its line."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SpecError(
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} cannot be decoded"
            " (polymagic reads YAML as UTF-8)",
            line=line,
            source=source,
        ) from exc


def _too_big(what: str, size: int | None, unit: str = "bytes") -> LimitError:
    amount = (
        f"is {size:,} {unit}" if size is not None else f"holds more than {INPUT_MAX_BYTES:,} bytes"
    )
    return LimitError(
        f"{what} {amount}, more than polymagic reads ({limit_text('INPUT_MAX_BYTES')} bytes)"
    )


# -- YAML ---------------------------------------------------------------------------------


# libyaml's parser when PyYAML was built with it (same results, several times faster). Only
# its events are used: composing them into nodes happens here, without recursion.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Lines:
    """1-based line numbers for parser marks, kept on the text (libyaml reports the end of
    the input one line past the last one). Counts the text's lines once."""

    def __init__(self, text: str, source: str | None) -> None:
        self.last = max(1, text.count("\n") + (0 if text.endswith("\n") else 1))
        self.source = source

    def of(self, mark: Any) -> int | None:
        return None if mark is None else min(mark.line + 1, self.last)


def parse_yaml(text: str, source: str | None = None) -> tuple[Any, LineMap]:
    """Parse one YAML document into plain data plus where each part of it starts.

    Refused with one message: a repeated key, an alias that contains itself, more than
    ``YAML_MAX_NODES`` nodes (an aliased subtree counts once per use) and nesting deeper than
    ``DOCUMENT_MAX_DEPTH``.
    """
    if len(text) > INPUT_MAX_BYTES:
        raise _too_big(source or "the text", len(text), "characters")
    lines = _Lines(text, source)
    # Polyaxon reads YAML with PyYAML's safe loader, so scalars (``yes``, ``1.0``, dates) resolve alike.
    loader = _LOADER(text)
    # The cyclic collector would walk every node built so far, over and over: it doubles the
    # time of a large document, and parsing makes no cycles worth collecting meanwhile.
    collecting = gc.isenabled()
    gc.disable()
    try:
        node = _compose(loader, lines)
        tree = _index_lines(node, loader, lines) if node is not None else None
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        line, message = _syntax_message(exc, lines)
        if _is_tab(text, exc.problem_mark) and "tab" not in message:
            message += " (a tab: YAML indents with spaces only; replace the tab with spaces)"
        raise YamlSyntaxError(message, line=line, source=source) from exc
    except yaml.reader.ReaderError as exc:
        line = min(text.count("\n", 0, exc.position) + 1, lines.last)
        shown = f" (character #x{exc.character:04x})" if isinstance(exc.character, int) else ""
        raise YamlSyntaxError(
            f"YAML syntax error: {exc.reason}{shown}", line=line, source=source
        ) from exc
    except RecursionError as exc:
        raise YamlSyntaxError(
            "YAML syntax error: the document is nested too deeply", source=source
        ) from exc
    except (yaml.YAMLError, ValueError, TypeError) as exc:
        raise YamlSyntaxError(f"YAML syntax error: {exc}", source=source) from exc
    finally:
        loader.dispose()
        if collecting:
            gc.enable()
    return data, LineMap(tree, source)


def _is_tab(text: str, mark: Any) -> bool:
    """Whether the parser stopped at a tab, which YAML does not take as indentation."""
    at = getattr(mark, "index", None)
    if not isinstance(at, int) or not 0 <= at < len(text) or text[at] != "\t":
        return False
    # The mark's index counts characters (both PyYAML loaders); its column must agree with it,
    # found from the index without walking the lines before (a document may have millions).
    column: object = getattr(mark, "column", None)
    return at - (text.rfind("\n", 0, at) + 1) == column


def _syntax_message(exc: yaml.MarkedYAMLError, lines: _Lines) -> tuple[int | None, str]:
    """The line where the parser gave up, and a message that also names where the construct
    it was reading began (an unclosed ``{`` is found only lines later)."""
    problem_line = lines.of(exc.problem_mark)
    context_line = lines.of(exc.context_mark)
    problem = exc.problem or exc.context or "invalid YAML"
    message = f"YAML syntax error: {problem}"
    if exc.context and exc.problem and context_line is not None:
        if exc.context.startswith("while "):
            # "while parsing a flow mapping" -> "... (the flow mapping that starts on line 4)"
            what = exc.context.split(" ", 2)[-1]
            if context_line != problem_line and what.startswith("a "):
                message += f" (the {what[2:]} that starts on line {context_line})"
        else:
            message = f"YAML syntax error: {exc.context} (line {context_line}), {problem}"
    return problem_line if problem_line is not None else context_line, message


class _Frame:
    """A collection being composed: its node, where the count stood when it began, its anchor
    and (in a mapping) the key waiting for its value."""

    __slots__ = ("anchor", "key", "node", "start")

    def __init__(self, node: yaml.Node, start: int, anchor: str | None) -> None:
        self.node = node
        self.start = start
        self.anchor = anchor
        self.key: yaml.Node | None = None


def _compose(loader: Any, lines: _Lines) -> yaml.Node | None:
    """The node graph of the stream's single document, as PyYAML's composer builds it, but
    iterative and counting: ``count`` is the size of the document with every alias expanded,
    so a few hundred bytes of nested aliases are refused before anything is copied.

    ``loader`` is libyaml's or PyYAML's own parser; their event API is the same (and untyped).
    """
    get_event, resolve = loader.get_event, loader.resolve
    if not _document_starts(loader):
        return None
    anchors: dict[str, tuple[yaml.Node, int]] = {}  # size -1: still open
    stack: list[_Frame] = []
    count = 0
    while True:
        event: Any = get_event()
        kind = type(event)
        if kind is yaml.ScalarEvent:
            tag = event.tag
            if tag is None or tag == "!":
                tag = resolve(yaml.ScalarNode, event.value, event.implicit)
            node: yaml.Node = yaml.ScalarNode(
                tag, event.value, event.start_mark, event.end_mark, style=event.style
            )
            count += 1
            if event.anchor is not None:
                _anchor(anchors, event, node, 1)
        elif kind is yaml.AliasEvent:
            node = _alias(anchors, event, lines)
            count += anchors[event.anchor][1]
            if count > YAML_MAX_NODES:
                raise _alias_too_large(event, lines)
        elif kind is yaml.SequenceStartEvent or kind is yaml.MappingStartEvent:
            if len(stack) >= DOCUMENT_MAX_DEPTH:
                raise _too_deep(event, lines)
            node = _collection(event, kind, resolve)
            if event.anchor is not None:
                _anchor(anchors, event, node, -1)
            stack.append(_Frame(node, count, event.anchor))
            count += 1
            continue
        else:  # the end of the innermost collection
            frame = stack.pop()
            node = frame.node
            node.end_mark = event.end_mark
            if frame.anchor is not None:
                anchors[frame.anchor] = (node, count - frame.start)
        if count > YAML_MAX_NODES:
            raise _too_many_nodes(node, lines)
        if not stack:
            break
        parent = stack[-1]
        if type(parent.node) is yaml.SequenceNode:
            parent.node.value.append(node)
        elif parent.key is None:
            parent.key = node
        else:
            parent.node.value.append((parent.key, node))
            parent.key = None
    _document_ends(loader, node)
    return node


def _document_starts(loader: Any) -> bool:
    """Read the stream's start and its document's; False when the stream is empty."""
    loader.get_event()  # stream start
    if loader.check_event(yaml.StreamEndEvent):
        loader.get_event()
        return False
    loader.get_event()  # document start
    return True


def _document_ends(loader: Any, node: yaml.Node) -> None:
    """Read the document's end and the stream's; a second document is an error."""
    loader.get_event()  # document end
    if not loader.check_event(yaml.StreamEndEvent):
        extra: Any = loader.get_event()
        raise yaml.composer.ComposerError(
            "expected a single document in the stream",
            node.start_mark,
            "but found another document",
            extra.start_mark,
        )
    loader.get_event()


def _collection(event: Any, kind: type, resolve: Any) -> yaml.Node:
    """The (still empty) sequence or mapping node a start event opens."""
    node_kind = yaml.SequenceNode if kind is yaml.SequenceStartEvent else yaml.MappingNode
    tag = event.tag
    if tag is None or tag == "!":
        tag = resolve(node_kind, None, event.implicit)
    return node_kind(tag, [], event.start_mark, None, flow_style=event.flow_style)


def _alias_too_large(event: Any, lines: _Lines) -> LimitError:
    return LimitError(
        f"the alias `*{event.anchor}` makes the document larger than"
        f" {YAML_MAX_NODES:,} nodes (an aliased part counts once per use;"
        f" {limit_text('YAML_MAX_NODES')})",
        line=lines.of(event.start_mark),
        source=lines.source,
    )


def _too_deep(event: Any, lines: _Lines) -> LimitError:
    return LimitError(
        f"the document is nested more than {DOCUMENT_MAX_DEPTH} levels deep"
        f" ({limit_text('DOCUMENT_MAX_DEPTH')})",
        line=lines.of(event.start_mark),
        source=lines.source,
    )


def _too_many_nodes(node: yaml.Node, lines: _Lines) -> LimitError:
    return LimitError(
        f"the document has more than {YAML_MAX_NODES:,} nodes ({limit_text('YAML_MAX_NODES')})",
        line=lines.of(node.start_mark),
        source=lines.source,
    )


def _anchor(
    anchors: dict[str, tuple[yaml.Node, int]], event: Any, node: yaml.Node, size: int
) -> None:
    """Remember an anchored node (size -1 while it is still open), as PyYAML's composer does."""
    if event.anchor in anchors:
        raise yaml.composer.ComposerError(
            f"found duplicate anchor {event.anchor!r}; first occurrence",
            anchors[event.anchor][0].start_mark,
            "second occurrence",
            event.start_mark,
        )
    anchors[event.anchor] = (node, size)


def _alias(anchors: dict[str, tuple[yaml.Node, int]], event: Any, lines: _Lines) -> yaml.Node:
    """The node an alias names; one inside that node would make the document endless."""
    if event.anchor not in anchors:
        raise yaml.composer.ComposerError(
            None, None, f"found undefined alias {event.anchor!r}", event.start_mark
        )
    node, size = anchors[event.anchor]
    if size < 0:
        raise SpecError(
            f"the alias `*{event.anchor}` is inside the node it names (`&{event.anchor}` on"
            f" line {lines.of(node.start_mark)}), so it would repeat forever; a document must"
            " be a tree",
            line=lines.of(event.start_mark),
            source=lines.source,
        )
    return node


def _key_of(node: yaml.ScalarNode, loader: yaml.SafeLoader) -> Any:
    # Keys as the document's data has them (``1:`` is the int 1), so error paths line up.
    if node.tag == "tag:yaml.org,2002:str":
        return node.value  # what the constructor would return, without its bookkeeping
    try:
        key = loader.construct_object(node)
    except (yaml.YAMLError, ValueError, TypeError):
        return node.value
    return key if isinstance(key, (str, int, float, bool)) or key is None else node.value


def _index_lines(root: yaml.Node, loader: yaml.SafeLoader, lines: _Lines) -> _LineTree:
    """The line of every key and item, each node once (aliases repeat), before merge keys are
    applied; a key repeated in one mapping is refused, naming both lines."""
    top = _LineTree(lines.of(root.start_mark) or 1)
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, _LineTree, Path_]] = [(root, top, ())]
    while stack:
        node, tree, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        first = len(stack)  # children go on the stack reversed: the anchor before its aliases
        if isinstance(node, yaml.MappingNode):
            children: dict[Any, _LineTree] = {}
            firsts: dict[Any, int] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = _key_of(key_node, loader)
                line = lines.of(key_node.start_mark) or 1
                if key in firsts:
                    raise DuplicateKeyError(
                        f"duplicate key `{key}` (first on line {firsts[key]}); remove one",
                        path=format_path((*path, key)),
                        line=line,
                        source=lines.source,
                    )
                firsts[key] = line
                child = children[key] = _LineTree(line)
                if key is None:  # pydantic names a null key "None"
                    children.setdefault("None", child)
                stack.append((value_node, child, (*path, key)))
            tree.children = children
        elif isinstance(node, yaml.SequenceNode):
            items: dict[Any, _LineTree] = {}
            for index, item in enumerate(node.value):
                items[index] = _LineTree(lines.of(item.start_mark) or 1)
                stack.append((item, items[index], (*path, index)))
            tree.children = items
        stack[first:] = reversed(stack[first:])
    return top
