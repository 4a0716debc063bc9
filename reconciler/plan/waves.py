"""Wave gates and capacity: which of a plan's starts may go ahead now, and why the others wait.

Pure, like the rest of the planner. A wave that follows others (``after``) starts its migrations only
once its gate holds for each of them, judged from the live status of their tasks: at least
``min_completed`` completed and at most ``max_failed`` failed, counted over the predecessor's migrations
that run (validate-only and cancelled ones do not count; one without a task yet counts as not
completed). Then capacity: tasks queued or in progress, the live ones plus the starts this plan makes,
stay within the workspace's ``max_in_flight`` and each wave's own. Starts are taken earliest wave
first (by the wave's preferred start, then the order the waves are declared), so a later wave never
takes the room an earlier one needs. A start that may not go ahead becomes a ``wait`` that says why;
the first plan after the gate opens or tasks finish starts it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from reconciler.kinds import KIND_ORDER, TASK_KINDS
from reconciler.observed import Observed
from reconciler.plan.model import Action, Change
from reconciler.plan.projections import PlanContext
from reconciler.spec.desired import Desired, Wave, wave_key

ACTIVE = frozenset({"notStarted", "inProgress"})
# A replace swaps a queued task for a new one: it takes no new room and is not held back (the queued
# task would run anyway). Validate-only creates no task.
NEW_TASKS = frozenset({Action.START, Action.RESTART})
_EARLIEST = datetime.min.replace(tzinfo=UTC)


@dataclass
class _Tally:
    """How one wave's migrations that run stand: how many, completed and failed."""

    total: int = 0
    completed: int = 0
    failed: int = 0


@dataclass
class _Waves:
    desired: Desired
    tallies: dict[str, _Tally] = field(default_factory=dict)  # by wave key
    in_flight: dict[str, int] = field(default_factory=dict)  # by wave key
    gates: dict[str, str | None] = field(default_factory=dict)  # wave key -> why it waits (None: open)

    def gate(self, key: str) -> str | None:
        if key not in self.gates:
            wave = self.desired.waves[key]
            reasons = [r for pred in wave.after if (r := self._shut(pred, wave)) is not None]
            self.gates[key] = f"{wave.name} waits: {'; '.join(reasons)}" if reasons else None
        return self.gates[key]

    def _shut(self, pred: str, wave: Wave) -> str | None:
        name = self.desired.waves[pred].name
        tally = self.tallies.get(pred, _Tally())
        n = tally.total
        if n == 0:
            return f"{name} has no migrations that run (validate-only and cancelled ones do not count)"
        reasons = []
        low, high = wave.gate.min_completed, wave.gate.max_failed
        done, failed = tally.completed, tally.failed
        if low.percent and done * 100 < low.value * n:
            reasons.append(f"{name} {done:,}/{n:,} completed ({_share(done, n)} < {low})")
        elif not low.percent and done < min(low.value, n):
            reasons.append(f"{name} {done:,}/{n:,} completed ({done:,} < {_count(min(low.value, n))})")
        if high.percent and failed * 100 > high.value * n:
            reasons.append(f"{name} {failed:,}/{n:,} failed ({_share(failed, n)} > {high})")
        elif not high.percent and failed > high.value:
            reasons.append(f"{name} {failed:,} failed (> {high})")
        return "; ".join(reasons) or None


def _share(part: int, whole: int) -> str:
    # Rounded down, so a share just short of the threshold never reads as equal to it.
    tenths = math.floor(part * 1000 / whole) / 10
    return f"{tenths:g}%"


def _count(value: float) -> str:
    return f"{int(value):,}"


class _Keys(dict[str, str]):
    """Wave names (as migrations carry them: the declared spelling) to wave keys, computed once each."""

    def __missing__(self, name: str) -> str:
        self[name] = key = wave_key(name)
        return key


def _tally(desired: Desired, observed: Observed, keys: _Keys) -> tuple[dict[str, _Tally], dict[str, int]]:
    tallies: dict[str, _Tally] = {}
    in_flight: dict[str, int] = {}
    for kind, task_kind in TASK_KINDS.items():
        for key, migration in desired.migrations(kind).items():
            if migration.wave is None:
                continue
            wave = keys[migration.wave]
            task = observed.tasks.get((task_kind, key))
            status = task.status if task is not None else None
            if status in ACTIVE:
                in_flight[wave] = in_flight.get(wave, 0) + 1
            if migration.cancelled or migration.validate_only:
                continue
            tally = tallies.setdefault(wave, _Tally())
            tally.total += 1
            tally.completed += status == "completed"
            tally.failed += status == "failed"
    return tallies, in_flight


def hold_starts(changes: list[Change], desired: Desired, observed: Observed, ctx: PlanContext) -> list[Change]:
    """``changes`` with each start (or restart) that may not go ahead now turned into a ``wait`` saying why."""
    candidates = [i for i, c in enumerate(changes) if c.action in NEW_TASKS]
    if not candidates:
        return changes
    total = sum(1 for task in observed.tasks.values() if task.status in ACTIVE)
    limited = any(w.after or w.max_in_flight is not None for w in desired.waves.values())
    if not limited and total + len(candidates) <= ctx.max_in_flight:
        return changes  # no gate, no wave limit, and room for every start: the usual plan costs nothing here
    keys = _Keys()
    tallies, in_flight = _tally(desired, observed, keys)
    waves = _Waves(desired, tallies, in_flight)
    rank = {key: i for i, key in enumerate(sorted(desired.waves, key=_wave_order(desired)))}
    out = list(changes)
    by_kind = {kind: desired.migrations(kind) for kind in TASK_KINDS}

    def order(i: int) -> tuple[int, datetime, int, str]:
        c = changes[i]
        migration = by_kind[c.kind].get(c.key)
        start = migration.preferred_start if migration is not None else None
        wave_rank = rank.get(keys[c.wave], len(rank)) if c.wave is not None else len(rank)
        return (wave_rank, start or _EARLIEST, KIND_ORDER[c.kind], c.key)

    for i in sorted(candidates, key=order):
        c = changes[i]
        key = keys[c.wave] if c.wave is not None else None
        wave = desired.waves.get(key) if key is not None else None
        shut = waves.gate(key) if wave is not None and key is not None else None
        if shut is not None:
            out[i] = _wait(c, shut, "gate")
            continue
        if total >= ctx.max_in_flight:
            reason = f"capacity: {total:,} in flight (max_in_flight {ctx.max_in_flight:,})"
            out[i] = _wait(c, f"{reason}; a later plan starts it as tasks finish", "capacity")
            continue
        if wave is not None and key is not None and wave.max_in_flight is not None:
            here = in_flight.get(key, 0)
            if here >= wave.max_in_flight:
                reason = f"capacity: wave {wave.name} has {here:,} in flight (its max_in_flight {wave.max_in_flight:,})"
                out[i] = _wait(c, f"{reason}; a later plan starts it as tasks finish", "capacity")
                continue
            in_flight[key] = here + 1
        total += 1
    return out


def _wave_order(desired: Desired) -> Callable[[str], tuple[datetime, int]]:
    declared = {key: i for i, key in enumerate(desired.waves)}

    def order(key: str) -> tuple[datetime, int]:
        return (desired.waves[key].preferred_start or _EARLIEST, declared[key])

    return order


def _wait(c: Change, reason: str, why: str) -> Change:
    # Built directly: dataclasses.replace costs more than the rest of the decision (16,000 waits at 4,000 room).
    return Change(
        c.address, c.kind, c.key, Action.WAIT, reason, c.before, c.after, c.wave, c.status, c.task_id, c.held, why
    )
