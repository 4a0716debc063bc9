"""The emulated clock: wall time scaled by a speed factor, plus manual advances for tests."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class Clock:
    """Emulated UTC time. ``speed`` scales the passage of real time; ``advance`` jumps forward."""

    def __init__(self, speed: float = 1.0, start: datetime | None = None) -> None:
        self._anchor_real = time.monotonic()
        self._anchor_emulated = start or datetime.now(UTC)
        self._speed = speed

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> datetime:
        elapsed = (time.monotonic() - self._anchor_real) * self._speed
        return self._anchor_emulated + timedelta(seconds=elapsed)

    def _rebase(self) -> None:
        self._anchor_emulated = self.now()
        self._anchor_real = time.monotonic()

    def set_speed(self, speed: float) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self._rebase()
        self._speed = speed

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._rebase()
        self._anchor_emulated += timedelta(seconds=seconds)

    def set_time(self, when: datetime) -> None:
        if when < self.now():
            raise ValueError("the clock only moves forward")
        self._anchor_real = time.monotonic()
        self._anchor_emulated = when

    def to_json(self) -> dict[str, object]:
        return {"now": format_time(self.now()), "speed": self._speed}


def format_time(when: datetime) -> str:
    """Graph's timestamp form: UTC, millisecond precision, ``Z`` suffix."""
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def parse_time(text: str) -> datetime:
    """ISO 8601 with an offset (``Z`` allowed); raises ValueError otherwise."""
    value = datetime.fromisoformat(text.replace("z", "Z"))
    if value.tzinfo is None:
        raise ValueError("a time zone offset is required")
    return value.astimezone(UTC)
