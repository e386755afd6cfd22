"""Walking a build context within its bounds: which names ``.dockerignore`` and polymagic's
secret defaults leave out (and the warnings that say so), which entries the COPY sources take,
and the packer that visits folders (``MAX_ENTRIES`` names, ``MAX_DEPTH`` deep) and stops as
soon as the archive cannot fit its limit."""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from polymagic.errors import SpecError, one_line
from polymagic.render.context_archive import (
    OPEN_DIR,
    ContextRoot,
    Entry,
    EntryKind,
    Folder,
    tar_blocks,
    too_large,
)
from polymagic.render.context_limits import (
    DEFLATE_RATIO,
    MAX_DEPTH,
    MAX_ENTRIES,
    SECRET_RULES,
    SHOWN,
    default_archive_limit,
)
from polymagic.render.copy_sources import (
    GLOB_MAGIC,
)
from polymagic.render.dockerignore import (
    DOCKERIGNORE,
    DockerIgnore,
    MatcherState,
    PathMatcher,
    glob_segment,
)

if TYPE_CHECKING:
    pass

__all__ = ["LeftOut", "Members", "Packer", "Rules", "find_source", "left_out_warnings"]


class Rules:
    """Which paths the ``.dockerignore`` (after :data:`SECRET_PATTERNS`) leaves out, path by
    path as the walk meets them, remembering each folder's state for its children."""

    def __init__(self, ignore: DockerIgnore) -> None:
        self.matcher = PathMatcher((*SECRET_RULES, *ignore.rules), source=ignore.source)
        self.defaults_mask = (1 << len(SECRET_RULES)) - 1
        # Per folder: the matcher's state after "folder/", and the rules matching it or a parent.
        self.folders: dict[str, tuple[MatcherState, int]] = {".": (self.matcher.start, 0)}

    def verdict(self, rel: str) -> tuple[MatcherState, int]:
        """The matcher's state after ``rel`` and the rules matching it or a parent folder."""
        parent, _, name = rel.rpartition("/")
        state, mask = self.folder(parent or ".")
        after = self.matcher.step(state, name)
        return after, mask | after.accepts

    def folder(self, rel: str) -> tuple[MatcherState, int]:
        found = self.folders.get(rel)
        if found is None:
            state, mask = self.verdict(rel)
            found = self.folders[rel] = (self.matcher.step(state, "/"), mask)
        return found

    def by_default(self, mask: int) -> bool:
        """Left out only by :data:`SECRET_PATTERNS` (no rule of the user's matched)."""
        return mask != 0 and mask & ~self.defaults_mask == 0


class Members:
    """The archive's members so far, and a running bound on its size: an archive whose tar
    would exceed what the limit can hold at deflate's best ratio is refused at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.entries: dict[str, Entry] = {}
        self.tar_bytes = 1024  # the two zero blocks that end a tar

    def add(self, rel: str, entry: Entry) -> None:
        replaced = self.entries.get(rel)
        if replaced is not None:
            self.tar_bytes -= tar_blocks(replaced.size)
        self.entries[rel] = entry
        self.tar_bytes += tar_blocks(entry.size)
        if self.tar_bytes > self.limit * DEFLATE_RATIO:
            raise too_large(None, self.limit, self.entries)

    def with_parents(self, shown: str) -> dict[str, Entry]:
        """The members with every parent folder of each (a generated ``a/b`` needs ``a``)."""
        entries = dict(self.entries)
        for name in self.entries:
            parent = posixpath.dirname(name)
            while parent:
                existing = entries.setdefault(parent, Entry(EntryKind.DIR))
                if existing.kind is not EntryKind.DIR:
                    raise SpecError(
                        f"`{parent}` in {shown} is not a directory, so `{name}` cannot be"
                        " put below it in the build context"
                    )
                parent = posixpath.dirname(parent)
        return entries


class LeftOut:
    """What :data:`SECRET_PATTERNS` alone leave out of one archive, for the warning and the
    summary (a folder stands for what is below it)."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self.paths: list[str] = []
        # Folders left out by default that the walk still opens: a `!` rule may bring back
        # something below them, so what stays out inside is noted too (see settle).
        self.opened: set[str] = set()

    def note(self, rel: str, mask: int) -> None:
        """Remember ``rel`` when only the defaults leave it out and its folder is in the
        archive, or is one of those opened."""
        if self.rules.by_default(mask):
            parent = rel.rpartition("/")[0] or "."
            if parent in self.opened or not self.rules.matcher.excluded(
                self.rules.folder(parent)[1]
            ):
                self.paths.append(rel)

    def open(self, rel: str, mask: int) -> None:
        """The walk goes into ``rel``, a folder it leaves out, looking for `!` exceptions."""
        if self.rules.by_default(mask):
            self.opened.add(rel)

    def settle(self, members: Iterable[str]) -> None:
        """Once the walk is done: a folder left out by default of which a `!` rule brought
        something back is not named as a whole; what stays out inside it is. A folder of which
        nothing came back is named alone."""
        # ``members`` holds the parents of every member: a folder has something below it
        # exactly when it is some member's parent.
        parents = {m.rpartition("/")[0] for m in members}
        brought_back = self.opened & parents
        kept = []
        for rel in self.paths:
            if rel in brought_back:
                continue
            outer = rel.rpartition("/")[0]
            while outer and outer not in self.opened:
                outer = outer.rpartition("/")[0]
            if outer and outer not in brought_back:
                continue  # named by a folder of which nothing came back
            kept.append(rel)
        self.paths = sorted(kept)


class Packer:
    """Collects the entries of one archive (one call of :func:`pack_context`): walks each COPY
    source under the context folder, bounded, deciding path by path what goes in."""

    def __init__(self, base: Path, ignore: DockerIgnore, limit: int) -> None:
        self.context = ContextRoot(base)
        self.shown = self.context.shown
        self.ignore = ignore
        self.rules = Rules(ignore)
        self.matcher = self.rules.matcher
        self.members = Members(limit)
        self.entries = self.members.entries
        self.visited: set[str] = set()
        self.looked_at = 0
        self.left_out = LeftOut(self.rules)
        self.copied_secrets: list[str] = []

    # -- sources

    def add_source(self, source: str) -> None:
        cleaned = posixpath.normpath(source.strip().lstrip("/") or ".")
        if cleaned == ".." or cleaned.startswith("../"):
            raise self.context.outside(source)
        if cleaned.count("/") >= MAX_DEPTH:
            raise self.context.too_deep(cleaned)
        matches = self.expand(source, cleaned)
        if not matches:
            raise self.context.not_found(source)
        before = len(self.entries)
        for rel in matches:
            self._walk(rel)
        if cleaned == "." or len(self.entries) > before:
            return
        masks = [self.rules.verdict(rel)[1] for rel in matches if rel != "."]
        if not all(map(self.matcher.excluded, masks)):
            return
        if all(map(self.rules.by_default, masks)):
            for rel in matches:
                if rel in self.left_out.paths:
                    self.left_out.paths.remove(rel)
                self.copied_secrets.append(rel)
            return
        raise SpecError(
            f"COPY source `{source}` is excluded by {self.ignore.source}: Docker would not"
            " find it either; remove the pattern or add a `!` exception"
        )

    def expand(self, source: str, cleaned: str) -> list[str]:
        """The existing paths a source names (a wildcard may name several), canonical."""
        if cleaned == ".":
            return ["."]
        candidates = [""]
        for segment in cleaned.split("/"):
            if not GLOB_MAGIC.search(segment):
                candidates = [posixpath.join(c, segment) for c in candidates]
                continue
            try:
                matcher = glob_segment(segment)
            except ValueError as error:
                raise SpecError(f"COPY source `{source}`: bad wildcard: {error}") from None
            found = []
            for prefix in candidates:
                directory = self.context.full(prefix or ".")
                if not os.path.isdir(directory):
                    continue
                names = []
                with os.scandir(directory) as listing:
                    for item in listing:
                        self._count(posixpath.join(prefix, item.name))
                        if matcher.step(matcher.start, item.name).accepts:
                            names.append(item.name)
                found += [posixpath.join(prefix, name) for name in sorted(names)]
            candidates = found
        return [self._canonical(c) for c in candidates if os.path.lexists(self.context.full(c))]

    def _canonical(self, rel: str) -> str:
        """``rel`` with the links among its parent directories resolved; the links themselves
        are archived, so the path still works through them once unpacked."""
        *parents, last = rel.split("/")
        canonical = ""
        for part in parents:
            candidate = posixpath.join(canonical, part)
            if os.path.islink(self.context.full(candidate)):
                self._add_link(candidate)  # refuses a link out of the context
                canonical = self.context.rel(os.path.realpath(self.context.full(candidate)))
                canonical = "" if canonical == "." else canonical
            else:
                canonical = candidate
        return posixpath.join(canonical, last)

    # -- the walk

    def _count(self, rel: str) -> None:
        self.looked_at += 1
        if self.looked_at > MAX_ENTRIES:
            raise SpecError(
                f"the build context {self.shown} has more than {MAX_ENTRIES:,} files and folders"
                f" under the COPY sources (stopped at `{rel}`): leave big folders out with"
                " .dockerignore (e.g. `node_modules`, `.cache`, `data`), copy only what the"
                " image needs, or choose a smaller --context DIR"
            )
        if rel.count("/") >= MAX_DEPTH:
            raise self.context.too_deep(rel)

    def _walk(self, top: str) -> None:
        pending: list[str | Folder] = [top]
        while pending:
            item = pending.pop()
            if not isinstance(item, str):
                pending += self._list(item)
                continue
            if item in self.visited:
                continue
            self.visited.add(item)
            if item != ".":
                self._count(item)
            try:
                info = self.context.stat_source(item)
            except OSError as error:
                raise SpecError(f"cannot read `{item}` in {self.shown}: {error.strerror}") from None
            state, mask = (self.matcher.start, 0) if item == "." else self.rules.verdict(item)
            pending += self._visit(item, info, state, mask)

    def _visit(
        self, rel: str, info: os.stat_result, state: MatcherState, mask: int
    ) -> list[str | Folder]:
        """Record one path the walk met; return link targets and folders to visit next."""
        excluded = self.matcher.excluded(mask)
        if excluded:
            self.left_out.note(rel, mask)
        if stat.S_ISLNK(info.st_mode):
            return [] if excluded else list(self._add_link(rel, follow=True))
        if stat.S_ISDIR(info.st_mode):
            if rel != ".":
                state = self.matcher.step(state, "/")
                self.rules.folders[rel] = (state, mask)
                if not excluded:
                    self.members.add(rel, Entry(EntryKind.DIR))
            # Below an excluded folder only a `!` rule can bring something back.
            if not excluded or self.matcher.exceptions_possible(state):
                if excluded:
                    self.left_out.open(rel, mask)
                return [Folder(rel, info, state, mask)]
        elif stat.S_ISREG(info.st_mode) and not excluded:
            executable = bool(info.st_mode & 0o111)
            identity = (info.st_dev, info.st_ino)
            full = self.context.full(rel)
            entry = Entry(EntryKind.FILE, info.st_size, executable, full, identity=identity)
            self.members.add(rel, entry)
        # sockets, FIFOs and devices are left out, as Docker does
        return []

    def _list(self, folder: Folder) -> list[str | Folder]:
        """Visit the entries of a folder, opened without following links and only if it is
        still the folder the walk saw."""
        rel = folder.rel
        try:
            fd = os.open(self.context.full(rel), OPEN_DIR)
        except OSError as error:
            if error.errno in (errno.ELOOP, errno.ENOTDIR):
                raise self.context.changed(rel) from None
            raise SpecError(f"cannot list `{rel}` in {self.shown}: {error.strerror}") from None
        pending: list[str | Folder] = []
        try:
            seen = os.fstat(fd)
            if (seen.st_dev, seen.st_ino) != (folder.info.st_dev, folder.info.st_ino):
                raise self.context.changed(rel)
            with os.scandir(fd) as listing:
                for item in listing:
                    child = item.name if rel == "." else f"{rel}/{item.name}"
                    if child in self.visited:
                        continue
                    self.visited.add(child)
                    self._count(child)
                    state = self.matcher.step(folder.state, item.name)
                    mask = folder.mask | state.accepts
                    if self.matcher.excluded(mask) and not item.is_dir(follow_symlinks=False):
                        self.left_out.note(child, mask)  # no need to look further
                        continue
                    # Stat here, while the folder is open: the entry is the one listed.
                    pending += self._visit(child, item.stat(follow_symlinks=False), state, mask)
        except OSError as error:
            raise SpecError(f"cannot list `{rel}` in {self.shown}: {error.strerror}") from None
        finally:
            os.close(fd)
        return pending

    def _add_link(self, rel: str, *, follow: bool = False) -> list[str]:
        """Archive the link at ``rel``; return its target to pack too (when ``follow``)."""
        full = self.context.full(rel)
        try:
            target = os.readlink(full)
        except OSError:
            raise self.context.changed(rel) from None
        lexical = os.path.normpath(os.path.join(os.path.dirname(full), target))
        if not (self.context.inside(lexical) and self.context.inside(os.path.realpath(full))):
            raise SpecError(
                f"`{rel}` in {self.shown} is a symbolic link to `{target}`, outside the build"
                " context: copy the file into the folder instead, or leave the link out with"
                " .dockerignore"
            )
        if os.path.isabs(target):  # keep it working once unpacked somewhere else
            target = os.path.relpath(lexical, os.path.dirname(full)).replace(os.sep, "/")
        if rel not in self.entries:
            self.members.add(rel, Entry(EntryKind.LINK, link=target))
        if not follow or not os.path.lexists(lexical) or lexical == self.context.root:
            return []
        return [self._canonical(self.context.rel(lexical))]

    # -- generated files

    def add_generated(self, name: str, content: str | bytes) -> None:
        cleaned = posixpath.normpath(name)
        if name != cleaned or cleaned in (".", "..") or cleaned.startswith(("/", "../")):
            raise SpecError(
                f"generated file `{name}` must be a plain relative path inside the build context"
            )
        data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
        if self.entries.get(cleaned, Entry(EntryKind.FILE)).kind is not EntryKind.FILE:
            raise SpecError(
                f"`{cleaned}` in {self.shown} is a directory or link, so the generated file of"
                " that name cannot be added: rename one of them"
            )
        self.members.add(cleaned, Entry(EntryKind.FILE, len(data), content=data))

    def with_parents(self) -> dict[str, Entry]:
        """Every member to archive, parent folders included (the walk is over)."""
        return self.members.with_parents(self.shown)


def left_out_warnings(packer: Packer) -> list[str]:
    """What the pack left out by default, and the ``!`` line that would bring it back."""

    def reinclude_hint(rel: str) -> str:
        where = (
            packer.ignore.source
            if packer.ignore.source != DOCKERIGNORE
            else f"a {DOCKERIGNORE} file in {packer.shown}"
        )
        return f"add the line `!{one_line(rel)}` to {where}"

    out = []
    for rel in packer.copied_secrets:
        out.append(
            f"COPY source `{one_line(rel)}` is left out of the build context because it may hold"
            f" secrets (a ConfigMap is readable by many), so the build cannot copy it: to"
            f" send it on purpose, {reinclude_hint(rel)}"
        )
    left_out = packer.left_out.paths
    if left_out:
        names = ", ".join(f"`{one_line(rel)}`" for rel in left_out[:SHOWN])
        more = len(left_out) - SHOWN
        if more > 0:
            names += f" and {more} more"
        out.append(
            f"left out of the build context because they may hold secrets (a ConfigMap is"
            f" readable by many): {names}; to send one on purpose,"
            f" {reinclude_hint(left_out[0])}"
        )
    return out


def find_source(base: Path, source: str) -> list[str]:
    """The paths in the context folder ``base`` that the COPY source ``source`` names (a
    wildcard may name several; none when it names nothing), found as the packer finds them.
    Raises :class:`SpecError` for a source outside the folder or a malformed wildcard."""
    packer = Packer(Path(base), DockerIgnore(), default_archive_limit())
    cleaned = posixpath.normpath(source.strip().lstrip("/") or ".")
    if cleaned == ".." or cleaned.startswith("../"):
        raise packer.context.outside(source)
    return packer.expand(source, cleaned)
