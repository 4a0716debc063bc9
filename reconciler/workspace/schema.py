"""Generate the JSON Schemas of ``reconciler.yaml`` and of spec files into ``specs/workspace/``.

python -m reconciler.workspace.schema            # write them
python -m reconciler.workspace.schema --check    # exit 1 if the files are stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from reconciler.atomic import atomic_write_text
from reconciler.spec.schema import SPEC_SCHEMA_FILE, dumps, model_schema, spec_file_schema
from reconciler.workspace.config import WorkspaceConfig

CONFIG_SCHEMA_FILE = "reconciler.schema.json"
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "specs" / "workspace"


def config_schema() -> dict[str, Any]:
    return model_schema(
        WorkspaceConfig,
        "reconciler.yaml",
        "Workspace configuration: tenants, credentials by reference, endpoints, state backend and defaults.",
    )


def schema_files() -> dict[str, str]:
    """File name -> contents."""
    return {CONFIG_SCHEMA_FILE: dumps(config_schema()), SPEC_SCHEMA_FILE: dumps(spec_file_schema())}


def stale(directory: Path) -> list[str]:
    out = []
    for name, text in schema_files().items():
        path = directory / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            out.append(name)
    return out


def write(directory: Path) -> list[str]:
    changed = stale(directory)
    for name, text in schema_files().items():
        if name in changed:
            atomic_write_text(directory / name, text)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reconciler.workspace.schema", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="where the schema files live")
    parser.add_argument("--check", action="store_true", help="only report stale files (exit 1 if any)")
    args = parser.parse_args(argv)
    if args.check:
        names = stale(args.dir)
        for name in names:
            print(f"stale: {args.dir / name}")
        return 1 if names else 0
    for name in write(args.dir):
        print(f"wrote {args.dir / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
