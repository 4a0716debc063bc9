"""Terminal rendering of a Plan in Terraform's shape: drift, legend, one block per address, summary.

Pure: a Plan in, a string out (``iter_text``: the same string in pieces, for plans too large to hold twice).
The block and grouping helpers here are shared with ``render_markdown`` so both renderers describe the same
changes in the same words.
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from reconciler.jsonindent import one_line_encoder
from reconciler.kinds import KINDS
from reconciler.plan.model import (
    DESTRUCTIVE,
    IRREVERSIBLE,
    KIND_ORDER,
    Action,
    Change,
    Drift,
    ImpossibleEdit,
    Plan,
    PlanDiagnostic,
)

TOOL = "reconciler"
NO_CHANGES = "No changes. Your tenants match the configuration."
NOTHING_NOW = "No changes to apply now."
IMPOSSIBLE_TITLE = "Spec changes the service cannot carry out"
HELD_TITLE = "Held until the migrations that may use them finish"
WAITING_TITLE = "Waiting to start (a later plan starts them once the gate opens or tasks finish)"
OVERRIDE_NOTE = (
    "Mapping holds overridden (--override-mapping-holds): identity mappings are deleted even while migrations "
    "that may use them are queued or in progress."
)

# Legend order; waits and no-ops have no symbol because they are never listed one by one.
SYMBOLS: dict[Action, tuple[str, str]] = {
    Action.CREATE: ("+", "create"),
    Action.UPDATE: ("~", "update in-place"),
    Action.DELETE: ("-", "delete"),
    Action.START: (">", "start"),
    Action.RESTART: (">>", "restart (start a new attempt)"),
    Action.CANCEL: ("x", "cancel"),
    Action.REPLACE: ("-/+", "replace (cancel, then start)"),
    Action.VALIDATE: ("?", "validate only"),
    Action.ADOPT: ("=", "adopt"),
    Action.FORGET: (".", "forget"),
}
VERBS: dict[Action, str] = {
    Action.CREATE: "will be created",
    Action.UPDATE: "will be updated in-place",
    Action.DELETE: "will be deleted",
    Action.START: "will be started",
    Action.RESTART: "will be restarted",
    Action.CANCEL: "will be cancelled",
    Action.REPLACE: "must be replaced",
    Action.VALIDATE: "will be validated only",
    Action.ADOPT: "will be adopted",
    Action.FORGET: "will no longer be tracked",
}
KIND_LABELS = {kind.name: kind.label for kind in KINDS}
STATUS_WORDS = {
    "inProgress": "in progress",
    "notStarted": "queued",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
}
_STATUS_ORDER = ["in progress", "queued", "completed", "failed", "cancelled"]
NOTICED = IRREVERSIBLE | DESTRUCTIVE  # what a reviewer must see by address even in a compact plan

_GREEN, _YELLOW, _RED, _CYAN, _BOLD = "32", "33", "31", "36", "1"
_SYMBOL_COLORS = {"+": _GREEN, ">": _GREEN, ">>": _GREEN, "~": _YELLOW, "-": _RED, "x": _RED, "-/+": _RED}
_KNOWN_AFTER_APPLY = "(known after apply)"
_PIECE_ENTRIES = 512  # lines or changes per piece of iter_text: enough that writing them costs little per change

Paint = Callable[[str, str], str]


def _ansi(text: str, code: str) -> str:
    return f"\x1b[{code}m{text}\x1b[0m"


def _plain(text: str, code: str) -> str:
    return text


def symbol_color(symbol: str) -> str:
    return _SYMBOL_COLORS.get(symbol, _CYAN)


_VALUE_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, default=str)
_encode_string = json.encoder.encode_basestring  # what the encoder above writes for a str (ensure_ascii=False)
_encode_value = one_line_encoder(_VALUE_ENCODER)


def format_value(value: Any) -> str:
    """JSON-style: strings quoted, ``null``, nested values inline (one line, keys sorted)."""
    if type(value) is str:  # most values; the same text json.dumps writes, without building an encoder
        return _encode_string(value)
    return _encode_value(value)


@functools.lru_cache(maxsize=1024)  # a large plan repeats a few reasons (120,000 changes, a handful of texts)
def one_line(text: str) -> str:
    # Reasons and summaries go into single-line headers (and Markdown list items); a newline would break them.
    return " ".join(text.split())


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def hidden_note(n: int) -> str:
    return f"# ({n} unchanged {'attribute' if n == 1 else 'attributes'} hidden)"


class Attr(NamedTuple):  # a named tuple: a frozen dataclass's __init__ costs ~1 s over 600,000 attributes
    marker: str  # "+", "-", "~" or "" (shown, not changing)
    name: str
    value: str


class Block(NamedTuple):
    """One address as rendered: a ``# address …`` header, then the object with its attribute lines."""

    header: str
    symbol: str
    kind: str
    key: str
    attrs: list[Attr]
    hidden: int
    explanation: tuple[str, ...] = ()  # path-level lines (``explanation_lines``), shown as comments


EXPLANATION_TITLE = "# at Graph's paths:"
_ABSENT = "(absent)"


def explanation_lines(entries: list[dict[str, Any]] | None) -> tuple[str, ...]:
    """``targetUserIdentity.userPrincipalName: "a" -> "b"``: one line per member, ``(absent)`` for a missing side."""
    if not entries:
        return ()
    lines = []
    for e in entries:
        before = _ABSENT if e.get("change") == "added" else format_value(e.get("before"))
        after = _ABSENT if e.get("change") == "removed" else format_value(e.get("after"))
        lines.append(f"{e.get('path')}: {before} -> {after}")
    return tuple(lines)


def _diff_attrs(before: dict[str, Any] | None, after: dict[str, Any] | None, note: str = "") -> tuple[list[Attr], int]:
    before, after = before or {}, after or {}
    if not before:  # a create: every attribute is new (most changes of a first plan)
        return [Attr("+", name, format_value(value) + note) for name, value in after.items()], 0
    attrs: list[Attr] = []
    hidden = 0
    for name, value in after.items():
        if name not in before:
            attrs.append(Attr("+", name, format_value(value) + note))
        elif before[name] != value:
            attrs.append(Attr("~", name, f"{format_value(before[name])} -> {format_value(value)}{note}"))
        else:
            hidden += 1
    attrs.extend(Attr("-", name, f"{format_value(v)} -> null") for name, v in before.items() if name not in after)
    return attrs, hidden


def _task_id_attr(change: Change) -> Attr | None:
    if "task_id" in (change.after or {}) or "task_id" in (change.before or {}):
        return None
    if change.action in (Action.START, Action.RESTART, Action.REPLACE):
        # A new task gets its id from the service; a restart or replace leaves the old task behind.
        if change.task_id:
            return Attr("~", "task_id", f"{format_value(change.task_id)} -> {_KNOWN_AFTER_APPLY}")
        return Attr("+", "task_id", _KNOWN_AFTER_APPLY)
    if change.task_id:
        return Attr("", "task_id", format_value(change.task_id))
    return None


def change_block(change: Change) -> Block:
    reason = one_line(change.reason)
    header = f"{change.address} {VERBS[change.action]}" + (f" ({reason})" if reason else "")
    if change.action in (Action.ADOPT, Action.FORGET):
        # Nothing about the object changes: show only its identity.
        attrs, hidden = [], len(change.after or change.before or {})
    elif change.action is Action.VALIDATE:
        attrs, hidden = [Attr("", k, format_value(v)) for k, v in (change.after or {}).items()], 0
    else:
        note = "  # forces replacement" if change.action is Action.REPLACE else ""
        attrs, hidden = _diff_attrs(change.before, change.after, note)
    task_id = _task_id_attr(change)
    if task_id is not None:
        attrs.append(task_id)
    explained = explanation_lines(change.explanation)
    return Block(header, SYMBOLS[change.action][0], change.kind, change.key, attrs, hidden, explained)


# Shown whole (not as a diff), so not drawn by the new-object path of ``change_text``.
_WHOLE = frozenset({Action.ADOPT, Action.FORGET, Action.VALIDATE})


def change_text(change: Change, paint: Paint = _plain) -> str:
    """``block_lines(change_block(change), paint)`` as text, each line ending with a newline. A new object
    (nothing before, no explanation: every mapping and start of a first plan) is drawn straight from the
    change, without the block in between, its attribute names padded once per shape of object."""
    action = change.action
    if change.before or change.explanation or action in _WHOLE:
        return "\n".join(block_lines(change_block(change), paint)) + "\n"
    after = change.after or {}
    note = "  # forces replacement" if action is Action.REPLACE else ""
    task_id = None if "task_id" in after else _task_id_attr(change)
    names = tuple(after)
    shape = (paint, names, task_id is not None)
    drawn = _NEW_OBJECT_PREFIXES.get(shape)
    if drawn is None:
        width = max(map(len, names), default=0)
        if task_id is not None:
            width = max(width, len(task_id.name))
        plus = _marks(paint)["+"]
        drawn = ([f"      {plus} {name.ljust(width)} = " for name in names], width)
        if len(_NEW_OBJECT_PREFIXES) < _SHAPES_KEPT:
            _NEW_OBJECT_PREFIXES[shape] = drawn
    prefixes, width = drawn
    string, encode = _encode_string, _encode_value  # format_value, inline: 500,000 values in a first plan
    body = "".join(
        [
            f"{prefix}{string(value) if type(value) is str else encode(value)}{note}\n"
            for prefix, value in zip(prefixes, after.values(), strict=True)
        ]
    )
    if task_id is not None:
        body += _attr_line(task_id, width, _marks(paint)) + "\n"
    reason = one_line(change.reason)
    header = f"  # {change.address} {VERBS[action]}" + (f" ({reason})" if reason else "")
    return (
        f"{paint(header, _BOLD)}\n{_symbols(paint)[action]} {change.kind} {format_value(change.key)} {{\n{body}    }}\n"
    )


# A plan has a handful of shapes of new object (one per kind and set of attributes); the bound is a safeguard.
_SHAPES_KEPT = 256
_NEW_OBJECT_PREFIXES: dict[tuple[Paint, tuple[str, ...], bool], tuple[list[str], int]] = {}


def drift_block(drift: Drift) -> Block:
    reason = one_line(drift.reason)
    verb = "has been deleted" if drift.after is None else "has changed"
    header = f"{drift.address} {verb}" + (f" ({reason})" if reason else "")
    attrs, hidden = _diff_attrs(drift.before, drift.after)
    explained = explanation_lines(drift.explanation)
    return Block(header, "-" if drift.after is None else "~", drift.kind, drift.key, attrs, hidden, explained)


def block_lines(block: Block, paint: Paint = _plain) -> list[str]:
    """Terraform's layout: symbols right-aligned in three columns, attribute names aligned per block."""
    lines = [paint(f"  # {block.header}", _BOLD)]
    pad = " " * (3 - len(block.symbol))
    lines.append(f"{pad}{paint(block.symbol, symbol_color(block.symbol))} {block.kind} {format_value(block.key)} {{")
    width = max([len(a.name) for a in block.attrs], default=0)
    marks = _marks(paint)
    lines += [_attr_line(a, width, marks) for a in block.attrs]
    if block.hidden:
        lines.append(f"        {hidden_note(block.hidden)}")
    if block.explanation:
        lines.append(f"        {EXPLANATION_TITLE}")
        lines += [f"        #   {line}" for line in block.explanation]
    lines.append("    }")
    return lines


def _attr_line(a: Attr, width: int, marks: dict[str, str]) -> str:
    if a.marker:
        return f"      {marks[a.marker]} {a.name.ljust(width)} = {a.value}"
    return f"        {a.name.ljust(width)} = {a.value}"


_MARKS: dict[Paint, dict[str, str]] = {}
_SYMBOLS: dict[Paint, dict[Action, str]] = {}


def _marks(paint: Paint) -> dict[str, str]:
    """The attribute markers as ``paint`` shows them, painted once rather than on each of 600,000 lines."""
    marks = _MARKS.get(paint)
    if marks is None:
        marks = _MARKS[paint] = {m: paint(m, symbol_color(m)) for m in ("+", "-", "~")}
    return marks


def _symbols(paint: Paint) -> dict[Action, str]:
    """Each action's symbol as the first column of a block shows it (right-aligned in three columns, painted)."""
    symbols = _SYMBOLS.get(paint)
    if symbols is None:
        symbols = _SYMBOLS[paint] = {
            action: f"{' ' * (3 - len(symbol))}{paint(symbol, symbol_color(symbol))}"
            for action, (symbol, _) in SYMBOLS.items()
        }
    return symbols


@dataclass
class Group:
    """The changes of one kind (and, for migrations, one wave), in plan order."""

    kind: str
    wave: str | None
    changing: list[Change] = field(default_factory=list)
    resting: list[Change] = field(default_factory=list)  # waits and no-ops: counted by status only

    @property
    def title(self) -> str:
        label = KIND_LABELS.get(self.kind, self.kind)
        return f"{label}, wave {format_value(self.wave)}" if self.wave is not None else label

    def action_counts(self) -> str:
        counts = Counter(c.action for c in self.changing)
        parts = [f"{counts[a]} to {a.value}" for a in SYMBOLS if counts[a]]
        return ", ".join(parts) if parts else "nothing to do"

    def status_counts(self) -> str:
        """``3 migrations in progress, 2 completed``: how the resting items stand."""
        words = Counter(_status_word(c) for c in self.resting)
        if not words:
            return ""
        order = sorted(words, key=lambda w: (_STATUS_ORDER.index(w) if w in _STATUS_ORDER else len(_STATUS_ORDER), w))
        noun = "mapping" if self.kind.endswith("_mapping") else "migration"
        first, *rest = order
        return ", ".join([f"{plural(words[first], noun)} {first}", *(f"{words[w]} {w}" for w in rest)])

    def header_lines(self) -> list[str]:
        status = self.status_counts()
        return [f"{self.title}: {self.action_counts()}"] + ([f"  # {status}"] if status else [])


def _status_word(change: Change) -> str:
    if change.held:
        return "held"
    if change.waiting:
        return f"waiting for {change.waiting}"
    if change.status:
        return STATUS_WORDS.get(change.status, change.status)
    return "in progress" if change.action is Action.WAIT else "unchanged"


def _natural(text: str) -> list[tuple[int, int | str]]:
    # "wave-2" before "wave-10"
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", text) if p]


def group_changes(changes: Iterable[Change]) -> list[Group]:
    groups: dict[tuple[str, str | None], Group] = {}
    for change in changes:
        group = groups.get((change.kind, change.wave))
        if group is None:
            group = groups[(change.kind, change.wave)] = Group(change.kind, change.wave)
        (group.changing if change.changing else group.resting).append(change)

    def order(g: Group) -> tuple[int, str, bool, list[tuple[int, int | str]]]:
        return (KIND_ORDER.get(g.kind, len(KIND_ORDER)), g.kind, g.wave is not None, _natural(g.wave or ""))

    return sorted(groups.values(), key=order)


def summary_counts(plan: Plan) -> dict[str, int]:
    """The summary line's buckets: a replace both cancels and starts; a validate-only pre-flight is its
    own bucket, as apply's summary counts it ("N validated")."""
    c = plan.counts()
    return {
        "create": c["create"],
        "update": c["update"],
        "delete": c["delete"],
        "start": c["start"] + c["restart"] + c["replace"],
        "cancel": c["cancel"] + c["replace"],
        "forget": c["forget"],
        "validate": c["validate"],
        "adopt": c["adopt"],
    }


_OPTIONAL = ("validate", "adopt")


def summary_line(plan: Plan) -> str:
    """Terraform's line; "No changes … match" only when nothing is to apply, held or impossible. Impossible
    edits and held deletions add a line each, so the first line keeps Terraform's shape for scripts."""
    if plan.converged:
        return NO_CHANGES
    if plan.has_changes:
        counts = summary_counts(plan)
        # Validate and adopt are appended only when used, like Terraform's "to import", so the usual line
        # keeps its shape.
        names = [n for n in counts if n not in _OPTIONAL or counts[n]]
        parts = ["Plan: " + ", ".join(f"{counts[n]} to {n}" for n in names) + "."]
    else:
        parts = [NOTHING_NOW]
    if plan.errored and not plan.has_changes:
        parts.append("The plan has errors (see the diagnostics): nothing can be applied until they are fixed.")
    if plan.impossible:
        n = len(plan.impossible)
        parts.append(f"{plural(n, 'spec change')} cannot be carried out: the spec disagrees with the tenants.")
    if held := len(plan.held):
        verb, them = ("is", "it") if held == 1 else ("are", "them")
        parts.append(f"{plural(held, 'mapping deletion')} {verb} held until the migrations that may use {them} finish.")
    if waiting := len(plan.waiting):
        verb, them = ("waits", "it") if waiting == 1 else ("wait", "them")
        parts.append(
            f"{plural(waiting, 'migration')} {verb} to start (wave gate or max_in_flight); a later plan starts {them}."
        )
    if plan.only:
        parts.append(
            f"Limited with --only {','.join(plan.only)}: other actions are left out; plan without --only to see them."
        )
    return "\n".join(parts)


def waiting_items(plan: Plan) -> list[tuple[str, int, str]]:
    """The waiting starts grouped by wave and reason, in plan order: (wave, count, reason)."""
    groups: dict[tuple[str, str], int] = {}
    for change in plan.waiting:
        key = (change.wave or "", one_line(change.reason))
        groups[key] = groups.get(key, 0) + 1
    return [(wave, n, reason) for (wave, reason), n in groups.items()]


def waiting_line(wave: str, n: int, reason: str) -> str:
    where = f" in wave {wave}" if wave else ""
    return f"{plural(n, 'start')}{where}: {reason}"


def _waiting_lines(plan: Plan, paint: Paint) -> list[str]:
    items = waiting_items(plan)
    if not items:
        return []
    lines = [paint(f"{WAITING_TITLE}:", _BOLD), ""]
    lines += [f"  {paint('*', _YELLOW)} {waiting_line(*item)}" for item in items]
    return [*lines, ""]


def impossible_heading(edit: ImpossibleEdit) -> str:
    where = f" (at {edit.location})" if edit.location else ""
    return f"{edit.address}{where}: {one_line(edit.reason)}"


def impossible_attribute(name: str, live: object, declared: object) -> str:
    return f"{name}: live {format_value(live)}, declared {format_value(declared)}"


def _impossible_lines(plan: Plan, paint: Paint, compact: bool) -> list[str]:
    if not plan.impossible:
        return []
    lines = [paint(f"{IMPOSSIBLE_TITLE} (nothing is planned for them):", _BOLD), ""]
    for edit in plan.impossible:
        lines.append(f"  {paint('!', _RED)} {impossible_heading(edit)}")
        if compact:
            continue
        lines += [f"      {impossible_attribute(a.name, a.live, a.declared)}" for a in edit.attributes]
        lines += [f"      Fix: {one_line(edit.fix)}", ""]
    return lines if not compact else [*lines, ""]


def _held_lines(plan: Plan, paint: Paint) -> list[str]:
    held = plan.held
    if not held:
        return []
    lines = [paint(f"{HELD_TITLE}:", _BOLD), ""]
    lines += [f"  {paint('-', _YELLOW)} {c.address} deletion {one_line(c.reason)}" for c in held]
    return [*lines, ""]


def noticed(groups: Iterable[Group]) -> list[Change]:
    """Irreversible and destructive changes, in group order."""
    return [c for g in groups for c in g.changing if c.action in NOTICED]


def sorted_diagnostics(diagnostics: Iterable[PlanDiagnostic]) -> list[PlanDiagnostic]:
    return sorted(diagnostics, key=lambda d: d.severity != "error")  # stable: errors first, then the rest


def _diagnostic_lines(diag: PlanDiagnostic, paint: Paint, compact: bool) -> list[str]:
    prefix = paint("Error:" if diag.severity == "error" else "Warning:", _RED if diag.severity == "error" else _YELLOW)
    summary = one_line(diag.summary)
    if compact:
        return [f"{prefix} {summary}" + (f" ({diag.address})" if diag.address else "")]
    lines = [f"{prefix} {summary}"]
    if diag.address:
        lines.append(f"  with {diag.address}")
    if diag.detail:
        lines += ["", *(f"  {line}".rstrip() for line in diag.detail.splitlines())]
    return [*lines, ""]


def _drift_lines(drift: list[Drift], paint: Paint) -> list[str]:
    lines = [
        paint(f"Note: Objects have changed outside of {TOOL}", _BOLD),
        "",
        f"{TOOL} detected the following changes made outside of {TOOL} since the last apply:",
        "",
    ]
    for d in drift:
        lines += [*block_lines(drift_block(d), paint), ""]
    lines += ["Unless the spec was changed to match, the actions below may undo or respond to these changes.", ""]
    return lines


def _legend_lines(groups: list[Group], paint: Paint) -> list[str]:
    used = {c.action for g in groups for c in g.changing}
    lines = ["Actions are indicated with the following symbols:"]
    for action, (symbol, label) in SYMBOLS.items():
        if action in used:
            lines.append(f"{' ' * (3 - len(symbol))}{paint(symbol, symbol_color(symbol))} {label}")
    return [*lines, ""]


def _noticed_lines(groups: list[Group], paint: Paint) -> list[str]:
    changes = noticed(groups)
    if not changes:
        return []
    lines = ["Irreversible and destructive actions:"]
    for c in changes:
        symbol = SYMBOLS[c.action][0]
        lines.append(f"{' ' * (3 - len(symbol))}{paint(symbol, symbol_color(symbol))} {c.address} {VERBS[c.action]}")
    return [*lines, ""]


def render_text(plan: Plan, *, color: bool = False, compact: bool = False) -> str:
    """The plan for a terminal; ``compact`` keeps only per-group counts and what cannot be undone."""
    return "".join(iter_text(plan, color=color, compact=compact))


def iter_text(plan: Plan, *, color: bool = False, compact: bool = False) -> Iterator[str]:
    """``render_text`` in pieces of whole lines, each ending with a newline: a plan of 120,000 changes goes to
    the terminal without one 60 MB text and the million-line list it is joined from."""
    paint: Paint = _ansi if color else _plain
    groups = group_changes(plan.changes)
    lines: list[str] = []
    if plan.drift:
        if compact:
            n = len(plan.drift)
            lines += [paint(f"Note: {plural(n, 'object')} changed outside of {TOOL} since the last apply.", _BOLD), ""]
        else:
            lines += _drift_lines(plan.drift, paint)
    if plan.has_changes:
        if compact:
            for g in groups:
                lines += g.header_lines()
            lines.append("")
            lines += _noticed_lines(groups, paint)
        else:
            lines += _legend_lines(groups, paint)
            lines += [f"{TOOL} will perform the following actions:", ""]
            for g in groups:
                title, *status = g.header_lines()
                lines += [paint(title, _BOLD), *status, ""]
                for change in g.changing:
                    lines.append(change_text(change, paint))  # its lines and the blank line after it
                    if len(lines) >= _PIECE_ENTRIES:
                        yield "\n".join(lines) + "\n"
                        lines = []
    lines += _impossible_lines(plan, paint, compact)
    lines += _held_lines(plan, paint)
    lines += _waiting_lines(plan, paint)
    if plan.options.get("override_mapping_holds"):
        lines += [paint(f"Note: {OVERRIDE_NOTE}", _BOLD), ""]
    for diag in sorted_diagnostics(plan.diagnostics):
        lines += _diagnostic_lines(diag, paint, compact)
    if compact and plan.diagnostics:
        lines.append("")
    lines.append(paint(summary_line(plan), _BOLD))
    if not plan.has_changes and groups:
        # Converged, but tasks may still be running: say how they stand.
        lines.append("")
        lines += [f"{g.title}: {g.status_counts()}" for g in groups]
    yield "\n".join(lines) + "\n"  # never empty: the summary line is always there
