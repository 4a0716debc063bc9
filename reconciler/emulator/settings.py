"""Run-time switches of the emulator: behaviour where the docs are silent, the engine, faults."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from reconciler.emulator.failures import KINDS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Behaviour(_Strict):
    """Switches for behaviour the documentation leaves open (``specs/graph/behaviour.md``)."""

    manage_implies_read: bool = True
    list_endpoints: bool = False
    group_task_requires_mapping: bool = False
    duplicate_create: Literal["conflict", "upsert", "allow"] = "conflict"
    removed_unknown_key: Literal["succeed", "fail"] = "succeed"
    delta_patch_errors: Literal["atomic", "per_item"] = "atomic"
    mapping_odata_type: bool = True
    queue_full: Literal["reject", "hold"] = "reject"


class EngineSettings(_Strict):
    """How fast emulated migrations move (in emulated seconds)."""

    queue_delay_seconds: float = Field(5.0, ge=0)
    duration_seconds: float = Field(30.0, ge=0)
    duration_jitter: float = Field(0.5, ge=0, le=1)
    failure_rate: float = Field(0.0, ge=0, le=1)
    failure_message: str = "The migration failed: the service could not copy the content."
    # Random failures use these kinds of ``failures.KINDS`` in turn (by task id) instead of failure_message.
    failure_kinds: list[str] = Field(default_factory=list)
    stuck_rate: float = Field(0.0, ge=0, le=1)  # share of tasks that stop updating after their first phase

    @field_validator("failure_kinds", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        # `serve --engine failure_kinds=size-limit,no-trust` gives one string.
        return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value

    @field_validator("failure_kinds")
    @classmethod
    def _known_kinds(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in KINDS]
        if unknown:
            raise ValueError(f"unknown failure kind {unknown[0]!r}; known: {', '.join(KINDS)}")
        return value

    # Tasks notStarted or inProgress at once per source tenant; what happens beyond it is ``queue_full``.
    queue_capacity: int = Field(100_000, ge=1)


class RateLimit(_Strict):
    per_second: float = Field(gt=0)
    burst: int = Field(1, ge=1)
    retry_after: Literal["integer", "fractional"] = "integer"


class RandomFaults(_Strict):
    rate: float = Field(0.0, ge=0, le=1)
    statuses: list[Literal[429, 503, 504]] = Field(default_factory=lambda: [429, 503, 504], min_length=1)  # type: ignore[arg-type]
    retry_after: float = Field(1.0, ge=0)


BodyFault = Literal["malformed_json", "html", "empty_object", "drop_members", "wrong_types"]


class FaultRule(_Strict):
    """Applies to the next ``count`` Graph requests matching ``method`` and ``path`` (a regex).

    ``action: body`` carries the request out and replaces the body of its 2xx answer with ``body``:
    malformed JSON, an HTML page (``text/html``), ``{}``, the real body without ``members``, or the
    real body with ``id``/``status`` of the wrong JSON types."""

    method: str | None = None
    path: str | None = None
    action: Literal["status", "drop_before", "drop_after", "latency", "body"] = "status"
    body: BodyFault = "malformed_json"
    members: list[str] = Field(default_factory=lambda: ["id"])
    status: int = Field(503, ge=400, le=599)
    retry_after: float | None = Field(None, ge=0)
    latency_ms: int = Field(0, ge=0, le=600_000)
    count: int = Field(1, ge=1)


class Faults(_Strict):
    seed: int | None = None
    rate_limit: RateLimit | None = None
    random: RandomFaults = Field(default_factory=RandomFaults)
    latency_ms: int = Field(0, ge=0, le=600_000)
    latency_jitter_ms: int = Field(0, ge=0, le=600_000)
    drop_rate: float = Field(0.0, ge=0, le=1)
    drop_phase: Literal["after", "before"] = "after"
    rules: list[FaultRule] = Field(default_factory=list)
