"""Deciding paths against compiled ``.dockerignore`` rules in one pass: a Thompson automaton of
all the rules, run as a DFA built lazily from its state sets (as RE2 does), each set operation
charged to a budget of steps before it runs.

A path costs one dictionary step per character once its states are cached; building a state
costs time linear in the size of the patterns, and ``MAX_STEPS`` bounds the building: about
0.6 s of work on the worst input measured (README). Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from polymagic.errors import SpecError
from polymagic.render.ignore_syntax import (
    Alt,
    Assert,
    Cat,
    CharSet,
    Lit,
    Node,
    Op,
    Predicate,
    Rule,
)

__all__ = ["MAX_STEPS", "MatcherState", "PathMatcher"]

MAX_STEPS = 10_000_000
"""Set operations a matcher may spend building DFA states, each charged before it runs: about
0.6 s of work on the worst input measured (README); a .dockerignore of 320 patterns against
100,000 paths takes 3.6 million."""
_CACHE_LIMIT = 500_000
"""Automaton states held by cached DFA states before the cache is dropped (as RE2 does)."""
DOCKERIGNORE = ".dockerignore"

# -- the automaton --------------------------------------------------------------------------


class MatcherState:
    """A DFA state: the set of automaton states a path prefix leads to, and its cached moves."""

    __slots__ = ("_exceptions", "accepts", "chars", "kernel", "moves")

    def __init__(self, kernel: frozenset[int], chars: frozenset[int], accepts: int) -> None:
        self.kernel = kernel
        self.chars = chars
        """The automaton states in ``kernel`` that read a character."""
        self.accepts = accepts
        """Bit i is set when rule i matches the text read so far, as a whole."""
        self.moves: dict[str, MatcherState] = {}
        self._exceptions: bool | None = None


class PathMatcher:
    """Decides paths against ``rules`` (in order) in one pass over each path.

    ``step(state, text)`` reads ``text`` from ``state``; ``state.accepts`` tells which rules
    match what was read; ``excluded(mask)`` applies "the last match wins" to the rules that
    matched a path or one of its parents.
    """

    def __init__(self, rules: Sequence[Rule], *, source: str = DOCKERIGNORE) -> None:
        self.rules = tuple(rules)
        self.source = source
        self._exclusion = [rule.exclusion for rule in self.rules]
        self._op: list[Op] = []
        self._pred: list[Predicate] = []
        self._out: list[int] = []
        self._out2: list[int] = []
        self._owner: list[int] = []
        starts = [self._compile_rule(index, rule) for index, rule in enumerate(self.rules)]
        ops = self._op
        self._reading = frozenset(i for i, op in enumerate(ops) if op is Op.CHAR)
        self._final = frozenset(i for i, op in enumerate(ops) if op in (Op.END, Op.MATCH))
        self._exception_states = frozenset(
            i for i, owner in enumerate(self._owner) if self._exclusion[owner]
        )
        # The reading states grouped by what they accept: one group per literal character,
        # one per character set (most are shared: "any but /", "any but a line break").
        literal: dict[str, set[int]] = {}
        sets: dict[CharSet, set[int]] = {}
        for i in self._reading:
            pred = self._pred[i]
            if isinstance(pred, str):
                literal.setdefault(pred, set()).add(i)
            else:
                sets.setdefault(pred, set()).add(i)
        self._literal = {char: frozenset(ids) for char, ids in literal.items()}
        self._sets = [(pred, frozenset(ids)) for pred, ids in sets.items()]
        self._groups: dict[str, list[frozenset[int]]] = {}
        self._successors: dict[int, frozenset[int]] = {}
        self._end_accepts: dict[int, int] = {}
        self._table: dict[frozenset[int], MatcherState] = {}
        self._cached = 0
        self.steps = 0
        self.start = self._state(self._closure(starts, at_start=True))

    # -- building the automaton

    def _add(self, op: Op, pred: Predicate, out: int, owner: int) -> int:
        self._op.append(op)
        self._pred.append(pred)
        self._out.append(out)
        self._out2.append(-1)
        self._owner.append(owner)
        return len(self._op) - 1

    def _compile_rule(self, index: int, rule: Rule) -> int:
        match = self._add(Op.MATCH, "", -1, index)
        return self._compile(rule.node, match, index)

    def _compile(self, node: Node, nxt: int, owner: int) -> int:
        """The start of ``node``'s instructions, which continue at ``nxt`` (built backwards)."""
        if isinstance(node, Lit):
            return self._add(Op.CHAR, node.pred, nxt, owner)
        if isinstance(node, Assert):
            return self._add(node.op, "", nxt, owner)
        if isinstance(node, Cat):
            for item in reversed(node.items):
                nxt = self._compile(item, nxt, owner)
            return nxt
        if isinstance(node, Alt):
            starts = [self._compile(item, nxt, owner) for item in node.items]
            start = starts[-1]
            for other in reversed(starts[:-1]):
                split = self._add(Op.SPLIT, "", other, owner)
                self._out2[split] = start
                start = split
            return start
        if node.kind == "?":
            split = self._add(Op.SPLIT, "", self._compile(node.item, nxt, owner), owner)
            self._out2[split] = nxt
            return split
        split = self._add(Op.SPLIT, "", -1, owner)  # "*" and "+": the loop back
        self._out2[split] = nxt
        body = self._compile(node.item, split, owner)
        self._out[split] = body
        return split if node.kind == "*" else body

    def _closure(self, starts: Iterable[int], *, at_start: bool) -> frozenset[int]:
        """The states reachable without reading: characters to read, ``$`` checks and matches."""
        kernel: set[int] = set()
        seen: set[int] = set()
        pending = list(starts)
        ops, out, out2 = self._op, self._out, self._out2
        while pending:
            i = pending.pop()
            if i in seen:
                continue
            seen.add(i)
            op = ops[i]
            if op is Op.SPLIT:
                pending += (out[i], out2[i])
            elif op is Op.BEGIN:
                if at_start:
                    pending.append(out[i])
            else:
                kernel.add(i)
        self.steps += len(seen)
        return frozenset(kernel)

    def _accepts_after_end(self, end: int) -> int:
        """The rules that match when the text ends at an ``$`` state."""
        cached = self._end_accepts.get(end)
        if cached is None:
            cached, seen, pending = 0, set(), [self._out[end]]
            while pending:
                i = pending.pop()
                if i in seen:
                    continue
                seen.add(i)
                op = self._op[i]
                if op is Op.SPLIT:
                    pending += (self._out[i], self._out2[i])
                elif op is Op.END:
                    pending.append(self._out[i])
                elif op is Op.MATCH:
                    cached |= 1 << self._owner[i]
            self._end_accepts[end] = cached
        return cached

    def _state(self, kernel: frozenset[int]) -> MatcherState:
        found = self._table.get(kernel)
        if found is not None:
            return found
        if self.steps > MAX_STEPS:
            raise SpecError(
                f"{self.source}: matching its patterns against the folder's paths takes more"
                f" than {MAX_STEPS:,} steps, so polymagic stops: use fewer or simpler patterns"
                " (long runs of `*` and `**`), or leave large folders out near the top"
            )
        if self._cached > _CACHE_LIMIT:
            for state in self._table.values():
                state.moves.clear()
            self._table.clear()
            self._cached = 0
        accepts = 0
        for i in kernel & self._final:
            if self._op[i] is Op.END:
                accepts |= self._accepts_after_end(i)
            else:
                accepts |= 1 << self._owner[i]
        state = MatcherState(kernel, kernel & self._reading, accepts)
        self._table[kernel] = state
        self._cached += len(kernel) + 1
        return state

    def _groups_for(self, char: str) -> list[frozenset[int]]:
        """The groups of reading states that accept ``char``."""
        groups = [ids for pred, ids in self._sets if char in pred]
        if char in self._literal:
            groups.append(self._literal[char])
        self.steps += len(self._sets)
        self._groups[char] = groups
        return groups

    def _move(self, state: MatcherState, char: str) -> MatcherState:
        groups = self._groups.get(char)
        if groups is None:
            groups = self._groups_for(char)
        chars = state.chars
        # Each step below is charged what it costs (an intersection walks the smaller set, a
        # union every member of its inputs), before the next one runs.
        self.steps += sum(min(len(chars), len(ids)) for ids in groups)
        survivors = frozenset().union(*[chars & ids for ids in groups])
        successors = self._successors
        for i in survivors:
            if i not in successors:
                successors[i] = self._closure([self._out[i]], at_start=False)
        # Set operations in C: this runs once per new (state, character) pair.
        parts = list(map(successors.__getitem__, survivors))
        self.steps += len(survivors) + sum(map(len, parts))
        kernel = frozenset().union(*parts)
        self.steps += 3 * len(kernel)  # hashing it, and the two intersections of _state
        nxt = self._state(kernel)
        state.moves[char] = nxt
        return nxt

    # -- reading paths

    def step(self, state: MatcherState, text: str) -> MatcherState:
        """The state after reading ``text`` from ``state``."""
        for char in text:
            nxt = state.moves.get(char)
            state = nxt if nxt is not None else self._move(state, char)
        return state

    def exceptions_possible(self, state: MatcherState) -> bool:
        """Whether some ``!`` rule may still match a path that continues from ``state``."""
        if state._exceptions is None:
            state._exceptions = not state.kernel.isdisjoint(self._exception_states)
        return state._exceptions

    def excluded(self, mask: int) -> bool:
        """Docker's verdict for a path the rules in ``mask`` match (it or a parent): the last
        matching rule wins, and a path no rule matches is kept."""
        return mask != 0 and not self._exclusion[mask.bit_length() - 1]

    def mask(self, path: str) -> int:
        """The rules that match the clean relative ``path`` or one of its parent folders."""
        state, mask = self.start, 0
        parts = path.split("/")
        for index, part in enumerate(parts):
            state = self.step(state, part)
            if index < len(parts) - 1:
                mask |= state.accepts
                state = self.step(state, "/")
        return mask | state.accepts
