"""Benchmark: DeepDiff runs only where ``==`` found a difference (issue 15).

    .venv/bin/python bench/explain_calls.py [--mappings 100000] [--drifted 1000]

Plans (the pure planner, in process, as after a refresh) a workspace of ``--mappings`` user mappings that all
match the spec, the state and the tenant, and counts DeepDiff calls (``reconciler.plan.explain.calls``) and
whether ``deepdiff`` was imported at all: both must be none. Then the same workspace with ``--drifted`` of them
changed in the tenant: each costs two calls (its drift and the update that restores it), up to the planner's
``EXPLAIN_LIMIT`` calls a plan, and the time the explanations add is printed. Exit status 1 if the unchanged
plan made a call or imported DeepDiff. ``make bench-explain`` runs it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reconciler.observed import Observed, ObservedUserMapping
from reconciler.plan import explain
from reconciler.plan.planner import PlanContext, Selection, plan
from reconciler.spec.desired import Desired, UserMapping, address
from reconciler.spec.diagnostics import SourceRange
from reconciler.spec.enums import UserType
from reconciler.state.model import ResourceState, State

SOURCE, TARGET = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"


def world(n: int, drifted: int) -> tuple[Desired, Observed, State]:
    desired, observed, state = Desired(), Observed(), State(lineage="bench", serial=1)
    where = SourceRange.at("mappings.csv", 1)
    for i in range(n):
        upn, target = f"user{i:06d}@contoso.com", f"user{i:06d}@fabrikam.com"
        item = UserMapping(
            source_upn=upn,
            target_upn=target,
            target_email=None,
            user_type=UserType.REGULAR_USER,
            source_organization_id=None,
            protect=False,
            range=where,
        )
        desired.user_mappings[item.key] = item
        values = {"target_upn": target, "user_type": "regularUser", "source_organization_id": SOURCE}
        state.resources[address("user_mapping", upn)] = ResourceState("user_mapping", upn, values)
        live = f"moved{i:06d}@fabrikam.com" if i < drifted else target
        observed.user_mappings[upn] = ObservedUserMapping(
            key=upn, target_upn=live, target_email=None, user_type="regularUser", source_organization_id=SOURCE
        )
    return desired, observed, state


def run(n: int, drifted: int) -> tuple[float, int, int, int]:
    desired, observed, state = world(n, drifted)
    before = explain.calls
    start = time.perf_counter()
    result = plan(desired, observed, state, PlanContext(SOURCE, TARGET), Selection())
    seconds = time.perf_counter() - start
    return seconds, explain.calls - before, len(result.drift), result.counts()["update"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mappings", type=int, default=100_000)
    parser.add_argument("--drifted", type=int, default=1_000)
    args = parser.parse_args()
    seconds, calls, drift, updates = run(args.mappings, 0)
    imported = "deepdiff" in sys.modules
    print(f"{args.mappings:,} unchanged mappings: plan {seconds:.2f} s, {calls} DeepDiff calls, imported: {imported}")
    ok = calls == 0 and drift == 0 and updates == 0 and not imported
    seconds_d, calls_d, drift_d, updates_d = run(args.mappings, args.drifted)
    print(
        f"{args.mappings:,} mappings, {args.drifted:,} drifted: plan {seconds_d:.2f} s, {calls_d} DeepDiff calls "
        f"({drift_d} drifted, {updates_d} updates; {1000 * (seconds_d - seconds) / max(calls_d, 1):.2f} ms per call "
        "including the import)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
