"""Progress for long refreshes and applies: a rich bar (count, rate, ETA) on a terminal; plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from rich.progress import Progress, ProgressColumn, TaskID


def _rate() -> ProgressColumn:
    """Objects a second; rich is imported only when a bar is drawn (it is slow to import)."""
    from rich.progress import ProgressColumn, Task
    from rich.text import Text

    class _Rate(ProgressColumn):
        def render(self, task: Task) -> Text:
            return Text(f"{task.speed:,.0f}/s" if task.speed else "", style="progress.data.speed")

    return _Rate()


class Meter:
    """Implements ``operations.common.Meter``: ``start(description, total)``, ``advance(n)``, ``finish()``."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._started = 0.0
        self._count = 0
        self._description = ""

    def start(self, description: str, total: int) -> None:
        self.finish()
        self._description, self._count, self._started = description, 0, time.monotonic()
        if not self.enabled or total == 0:
            return
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                _rate(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(description, total=total)
        else:
            click.echo(f"{description}: {total} objects...", err=True)

    def advance(self, n: int = 1) -> None:
        self._count += n
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, n)

    def finish(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            self._task = None
        elif self.enabled and self._description and self._count:
            click.echo(f"{self._description}: {self._count} done in {time.monotonic() - self._started:.1f}s", err=True)
        self._description = ""
