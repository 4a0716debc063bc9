"""JSON Schema of spec files, generated from the models (editors complete and check files with it).

``python -m reconciler.workspace.schema`` writes this and the ``reconciler.yaml`` schema to ``specs/workspace/``.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from reconciler.spec.models import SpecFile

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SPEC_SCHEMA_FILE = "spec.schema.json"


def model_schema(model: type[BaseModel], title: str, description: str) -> dict[str, Any]:
    schema = model.model_json_schema(mode="validation")
    return {"$schema": JSON_SCHEMA_DIALECT, "title": title, "description": description, **_without_title(schema)}


def spec_file_schema() -> dict[str, Any]:
    return model_schema(
        SpecFile,
        "reconciler spec file",
        "Desired state: identity mappings, migrations and waves. Any number of spec files make up a workspace.",
    )


def dumps(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def _without_title(schema: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k not in ("title", "description")}
