"""Markdown rendering of a Plan for a pull-request comment, kept under a size limit.

Order: summary line, irreversible and destructive actions by address, drift and details collapsed per
kind and wave (``diff`` fences with ``+``/``-``/``!`` in column 0 so GitHub colours them), diagnostics.
Comments are capped (GitHub: 65,536 characters), so details give way first, with an explicit note that
points to the full plan; diagnostics and drift get their room before the details do.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from reconciler.plan.model import Change, Plan
from reconciler.plan.render_text import (
    EXPLANATION_TITLE,
    HELD_TITLE,
    IMPOSSIBLE_TITLE,
    OVERRIDE_NOTE,
    TOOL,
    VERBS,
    WAITING_TITLE,
    Block,
    Group,
    change_block,
    drift_block,
    format_value,
    group_changes,
    hidden_note,
    noticed,
    one_line,
    plural,
    sorted_diagnostics,
    summary_line,
    waiting_items,
    waiting_line,
)

SECTION_CAP = 50  # entries listed per always-shown section; the full list is in the plan file

# GitHub's diff colouring: "+" green, "-" red, "!" orange; anything else stays neutral.
DIFF_MARKERS = {"+": "+", ">": "+", ">>": "+", "-": "-", "x": "-", "~": "!", "-/+": "!"}


def _md(text: str) -> str:
    # Free text (reasons, summaries, wave names) must not open HTML tags such as a stray </details>.
    return html.escape(text, quote=False)


def _longest_backtick_run(text: str) -> int:
    return max((len(m) for m in re.findall(r"`+", text)), default=0)


def _code(text: str) -> str:
    ticks = "`" * (_longest_backtick_run(text) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def diff_lines(block: Block) -> list[str]:
    """A block with its change marker moved to column 0; the ``#`` header says which domain action it is."""
    lines = [f"# {block.header}", f"{DIFF_MARKERS.get(block.symbol, ' ')} {block.kind} {format_value(block.key)} {{"]
    width = max((len(a.name) for a in block.attrs), default=0)
    lines += [f"{DIFF_MARKERS.get(a.marker, ' ')}     {a.name.ljust(width)} = {a.value}" for a in block.attrs]
    if block.hidden:
        lines.append(f"      {hidden_note(block.hidden)}")
    if block.explanation:
        lines.append(f"      {EXPLANATION_TITLE}")
        lines += [f"      #   {line}" for line in block.explanation]
    lines.append("  }")
    return lines


def _fill(items: list[str], room: int, overflow: Callable[[int], str]) -> tuple[str, int]:
    """As many items as fit in ``room``; if some are left out, the overflow line (for the count shown) too."""
    if sum(map(len, items)) <= room:
        return "".join(items), len(items)
    room -= len(overflow(len(items)))  # the longest the line can be
    taken: list[str] = []
    for item in items:
        if len(item) > room:
            break
        taken.append(item)
        room -= len(item)
    return "".join(taken) + overflow(len(taken)), len(taken)


class _Section:
    """A ``<details>`` section whose diff blocks are taken one at a time while the room lasts."""

    def __init__(self, summary: str, blocks: Iterator[Block], total: int) -> None:
        self.summary, self.total = summary, total
        self._blocks = blocks
        self._next: str | None = None
        self.texts: list[str] = []
        self.fence = 3

    def overhead(self, cut: bool = True) -> int:
        """The wrapper's size; if it may be ``cut``, with the longest "(N of M shown)" it may need."""
        return len(self._wrap(self._suffix(self.total, force=cut)))

    def next_cost(self) -> int | None:
        if self._next is None:
            block = next(self._blocks, None)
            if block is None:
                return None
            self._next = ("\n" if self.texts else "") + "\n".join(diff_lines(block)) + "\n"
        # The fence must outrun any backticks in the values; a longer fence costs twice (open and close).
        return len(self._next) + 2 * max(0, _longest_backtick_run(self._next) + 1 - self.fence)

    def take(self) -> None:
        assert self._next is not None
        self.fence = max(self.fence, _longest_backtick_run(self._next) + 1)
        self.texts.append(self._next)
        self._next = None

    def _suffix(self, shown: int, force: bool = False) -> str:
        return f" ({shown} of {self.total} shown)" if force or shown < self.total else ""

    def _wrap(self, suffix: str, body: str = "") -> str:
        fence = "`" * self.fence
        return (
            f"\n<details><summary>{_md(self.summary + suffix)}</summary>\n\n{fence}diff\n{body}{fence}\n\n</details>\n"
        )

    def render(self) -> str:
        if not self.texts:
            return f"\n{_md(self.summary + self._suffix(0))}\n"  # nothing to expand
        return self._wrap(self._suffix(len(self.texts)), "".join(self.texts))


def _share(sections: list[_Section], room: int) -> bool:
    """Fill the sections round-robin so every kind and wave shows some detail; True if all fit."""
    active = list(sections)
    while active:
        for section in list(active):
            cost = section.next_cost()
            if cost is None or cost > room:
                active.remove(section)
                continue
            section.take()
            room -= cost
    return all(s.next_cost() is None for s in sections)


def _group_summary(group: Group) -> str:
    status = group.status_counts()
    return f"{group.title}: {group.action_counts()}" + (f"; {status}" if status else "")


def _details(groups: list[Group], room: int, cut: bool) -> tuple[str, int, bool]:
    """Every group's summary while they fit, then their blocks shared out: (text, blocks shown, complete)."""
    parts: list[str | _Section] = []
    complete = True
    for group in groups:
        part: str | _Section
        if group.changing:
            part = _Section(_group_summary(group), (change_block(c) for c in group.changing), len(group.changing))
            cost = part.overhead(cut)
        else:
            part = f"\n{_md(_group_summary(group))}\n"  # only waits and no-ops: one line, nothing to expand
            cost = len(part)
        if cost > room:
            complete = False
            break
        parts.append(part)
        room -= cost
    sections = [p for p in parts if isinstance(p, _Section)]
    complete = _share(sections, room) and complete
    text = "".join(p if isinstance(p, str) else p.render() for p in parts)
    return text, sum(len(s.texts) for s in sections), complete


def _drift(plan: Plan, room: int, hint: str) -> tuple[str, bool]:
    if not plan.drift:
        return "", True
    total = len(plan.drift)
    summary = f"Drift: {plural(total, 'object')} changed outside of {TOOL} since the last apply"

    def section() -> _Section:
        return _Section(summary, (drift_block(d) for d in plan.drift), total)

    full = section()
    if _share([full], room - full.overhead(cut=False)):
        return full.render(), True
    overflow = f"> {{}} of {total} drifted objects shown. The full plan is in {hint}.\n"
    cut = section()
    _share([cut], room - cut.overhead() - len(overflow.format(total)))
    text = cut.render() + overflow.format(len(cut.texts))
    return (text if len(text) <= room else ""), False


def _diagnostics(plan: Plan, room: int, hint: str) -> tuple[str, bool]:
    if not plan.diagnostics:
        return "", True
    title = "\n#### Diagnostics\n\n"
    items = []
    for d in sorted_diagnostics(plan.diagnostics):
        label = "Error" if d.severity == "error" else "Warning"
        where = f" ({_code(d.address)})" if d.address else ""
        detail = "".join(f"  {_md(line)}".rstrip() + "\n" for line in d.detail.splitlines())
        items.append(f"- **{label}:** {_md(one_line(d.summary))}{where}\n{detail}")
    total = len(items)
    body, shown = _fill(
        items, room - len(title), lambda n: f"\n> {n} of {total} diagnostics shown. The full plan is in {hint}.\n"
    )
    return (title + body if len(title) + len(body) <= room else ""), shown == total


def _noticed_items(changes: Iterable[Change]) -> list[str]:
    items = []
    for c in changes:
        reason = one_line(c.reason)
        items.append(f"- {_code(c.address)} {VERBS[c.action]}" + (f" ({_md(reason)})" if reason else "") + "\n")
    return items


def _impossible_items(plan: Plan) -> list[str]:
    items = []
    for e in plan.impossible:
        where = f" at {_code(e.location)}" if e.location else ""
        values = "; ".join(
            f"{_code(a.name)}: live {_code(format_value(a.live))}, declared {_code(format_value(a.declared))}"
            for a in e.attributes
        )
        items.append(
            f"- {_code(e.address)}{where}: {_md(one_line(e.reason))}. {values}. **Fix:** {_md(one_line(e.fix))}\n"
        )
    return items


def _capped_section(title: str, items: list[str], hint: str) -> str:
    """A section that is always shown (it says why the plan is not "No changes"), its list capped."""
    if not items:
        return ""
    text = f"\n#### {title} ({len(items)})\n\n" + "".join(items[:SECTION_CAP])
    if len(items) > SECTION_CAP:
        text += f"\n> {SECTION_CAP} of {len(items)} shown. The full plan is in {hint}.\n"
    return text


@dataclass(frozen=True)
class Heading:
    """Where and when the plan was made, and how it will be applied: the comment's first and last lines.

    The command fills it (from the workspace, the plan file, the CI's variables); rendering reads nothing.
    """

    workspace: str
    source_tenant_id: str
    target_tenant_id: str
    created: str  # when the plan was made, ISO 8601 UTC
    commit: str | None = None  # the commit planned, when known
    apply_command: str | None = None  # how the saved plan is applied; None: the plan was not saved
    on_merge: bool = False  # in a pull request's CI run: merging it applies the saved plan

    def top(self) -> str:
        facts = [
            f"source tenant {_code(self.source_tenant_id)}",
            f"target tenant {_code(self.target_tenant_id)}",
            *([f"commit {_code(self.commit)}"] if self.commit else []),
            f"made {_code(self.created)}",
        ]
        return f"### {TOOL} plan for {_code(self.workspace)}\n\n" + " · ".join(facts) + "\n\n"

    def bottom(self) -> str:
        if self.apply_command is None:
            how = (
                f"This plan was not saved: {_code(TOOL + ' apply')} plans again and asks before it changes anything; "
                f"{_code(TOOL + ' plan -out FILE')} saves a plan that {_code(TOOL + ' apply FILE')} carries out "
                "exactly."
            )
        elif self.on_merge:
            how = f"Merging this pull request applies exactly this plan with {_code(self.apply_command)}."
        else:
            how = f"To apply exactly this plan: {_code(self.apply_command)}."
        return f"\n---\n\n{how}\n"


def render_markdown(
    plan: Plan, *, artifact_hint: str = "the plan artifact", limit: int = 65000, heading: Heading | None = None
) -> str:
    """The plan as a PR comment of fewer than ``limit`` characters, with the ``heading`` first and its apply
    hint last when given.

    Only a limit too small for the heading, the summary line and the truncation note themselves can be exceeded.
    """
    top, bottom = (heading.top(), heading.bottom()) if heading is not None else ("", "")
    return top + _body(plan, artifact_hint, limit - len(top) - len(bottom)) + bottom


def _body(plan: Plan, artifact_hint: str, limit: int) -> str:
    groups = group_changes(plan.changes)
    total = sum(len(g.changing) for g in groups)

    def note(shown: int) -> str:
        return f"\n> Output truncated: {shown} of {total} changes shown. The full plan is in {artifact_hint}.\n"

    head = summary_line(plan) + "\n"
    errors = sum(d.severity == "error" for d in plan.diagnostics)
    if errors:
        head += f"\n**{plural(errors, 'error')}** must be fixed before this plan can be applied (see Diagnostics).\n"
    if plan.options.get("override_mapping_holds"):
        head += f"\n> [!WARNING]\n> {_md(OVERRIDE_NOTE)}\n"
    head += _capped_section(IMPOSSIBLE_TITLE, _impossible_items(plan), artifact_hint)
    held = [f"- {_code(c.address)} deletion {_md(one_line(c.reason))}\n" for c in plan.held]
    head += _capped_section(HELD_TITLE, held, artifact_hint)
    waiting = [f"- {_md(waiting_line(*item))}\n" for item in waiting_items(plan)]
    head += _capped_section(WAITING_TITLE, waiting, artifact_hint)
    items = _noticed_items(noticed(groups))
    if items:
        head += f"\n#### Irreversible and destructive actions ({len(items)})\n\n"
    room = limit - 1 - len(head)  # strictly under the limit
    listing = "".join(items)
    if len(listing) + len(note(total)) > room:
        # The list alone does not fit: it is cut, with the same note, and nothing else follows.
        body, _ = _fill(items, room, note)
        return head + body
    room -= len(listing)
    # Diagnostics, then drift, get their room before the details. First try as if nothing needs cutting; when
    # something does, try again with room kept for the note and the "(N of M shown)" marks.
    for cut in (False, True):
        left = room - (len(note(total)) if cut else 0)
        diagnostics, diagnostics_complete = _diagnostics(plan, left, artifact_hint)
        left -= len(diagnostics)
        drift, drift_complete = _drift(plan, left, artifact_hint)
        left -= len(drift)
        details, shown, complete = _details(groups, left, cut)
        if complete and diagnostics_complete and drift_complete:
            break
    if not complete:
        details += note(shown)
    return head + listing + drift + details + diagnostics
