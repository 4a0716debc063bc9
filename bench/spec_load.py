"""Benchmark: load and validate a workspace of 100,000 user mappings (CSV) and 10,000 migrations (YAML).

    .venv/bin/python bench/spec_load.py [--users 100000] [--user-migrations 8000] [--sites 1500] [--groups 500]

Targets on a 2-core machine: under 15 s and under 1 GiB peak memory. Each measurement runs in a fresh
interpreter that only loads the workspace (peak RSS includes the interpreter and imports). For
comparison the same load runs once more with ruamel's pure-Python parser instead of the C one.
Figures are printed and written to bench/results/spec_load.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 15.0
TARGET_BYTES = 1 << 30

_MEASURE = r"""
import json, resource, sys, time
pure = sys.argv[2] == "pure"
if pure:
    import reconciler.spec.yamlsource as ys
    ys.C_LOADER = False
from reconciler.workspace.loader import load_workspace
start = time.perf_counter()
ws = load_workspace(sys.argv[1])
wall = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
d = ws.desired
print(json.dumps({
    "seconds": wall, "peak_rss_bytes": peak, "errors": ws.diagnostics.count("error"),
    "warnings": ws.diagnostics.count("warning"), "user_mappings": len(d.user_mappings),
    "group_mappings": len(d.group_mappings), "migrations": len(d.user_migrations) + len(d.site_migrations)
    + len(d.group_migrations), "first": [x.render() for x in ws.diagnostics.sorted()[:3]],
}))
"""


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("large_generate", ROOT / "examples" / "large" / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measure(workspace: Path, parser: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(workspace), parser],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000, help="user mappings in the identity-map CSV")
    parser.add_argument("--user-migrations", type=int, default=8_000, help="user migrations in YAML")
    parser.add_argument("--sites", type=int, default=1_500, help="site migrations in YAML")
    parser.add_argument("--groups", type=int, default=500, help="group migrations in YAML (and mappings in CSV)")
    parser.add_argument("--skip-pure", action="store_true", help="do not run the pure-Python parser comparison")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="spec-load-") as tmp:
        workspace = Path(tmp) / "ws"
        start = time.perf_counter()
        _generator().generate(
            workspace,
            users=args.users,
            sites=args.sites,
            groups=args.groups,
            yaml_user_migrations=args.user_migrations,
            csv_user_migrations=False,
        )
        generated = time.perf_counter() - start
        yaml_lines = sum(len(p.read_text().splitlines()) for p in (workspace / "specs").glob("*.yaml"))
        results = {"c": measure(workspace, "c")}
        if not args.skip_pure:
            results["pure"] = measure(workspace, "pure")
    c = results["c"]
    print(
        f"workspace: {args.users:,} user mappings + {args.groups:,} group mappings in CSV, "
        f"{args.user_migrations + args.sites + args.groups:,} migrations in YAML ({yaml_lines:,} lines); "
        f"generated in {generated:.1f} s"
    )
    for name, r in results.items():
        label = "C parser (ruamel.yaml.clib)" if name == "c" else "pure-Python parser"
        print(
            f"{label:30} {r['seconds']:6.2f} s   peak RSS {r['peak_rss_bytes'] / 2**20:7.1f} MiB   "
            f"{r['user_mappings']:,} user mappings, {r['migrations']:,} migrations, "
            f"{r['errors']} errors, {r['warnings']} warnings"
        )
    ok = c["seconds"] < TARGET_SECONDS and c["peak_rss_bytes"] < TARGET_BYTES
    clean = c["errors"] == 0 and c["warnings"] == 0
    print(
        f"targets: < {TARGET_SECONDS:.0f} s and < 1 GiB: {'met' if ok else 'MISSED'}"
        f"{'' if clean else ' (the generated workspace did not validate clean: ' + str(c['first']) + ')'}"
    )
    results_dir = ROOT / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "spec_load.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0 if ok and clean else 1


if __name__ == "__main__":
    sys.exit(main())
