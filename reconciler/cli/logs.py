"""The diagnostic log: ``--debug`` or ``RECONCILER_LOG=LEVEL`` (as Terraform's ``TF_LOG``) to stderr.

Levels: ``debug`` logs every Graph and token request (method, URL without query, status,
request-id, milliseconds); ``info`` retries, throttling and the circuit breaker; ``warn`` and
``error`` less; ``off`` (the default) nothing. The Graph layer never passes a header, form field or
token to the logger; the filter here scrubs bearer tokens and JWTs from every record as well, so a
future log call cannot leak one.
"""

from __future__ import annotations

import logging
import re
import sys
import time

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}
ENV = "RECONCILER_LOG"
_SECRETS = re.compile(r"(?i)\bbearer\s+\S+|\beyJ[\w-]{8,}\.[\w-]+\.[\w-]*")


class LogLevelError(ValueError):
    """RECONCILER_LOG names no level."""


class _Scrub(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = _SECRETS.sub("[redacted]", message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class _Utc(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


def level_of(debug: bool, value: str | None) -> int | None:
    """The level to log at: ``--debug`` wins; then the environment; None for off."""
    if debug:
        return logging.DEBUG
    name = (value or "").strip().lower()
    if name in ("", "off"):
        return None
    level = {**LEVELS, "trace": logging.DEBUG, "warning": logging.WARNING}.get(name)
    if level is None:
        raise LogLevelError(f"{ENV}={value!r} is not one of {', '.join([*LEVELS, 'off'])}")
    return level


def configure(level: int | None) -> None:
    """Send the ``reconciler`` loggers to stderr at ``level`` (nothing when None)."""
    logger = logging.getLogger("reconciler")
    for handler in list(logger.handlers):
        if getattr(handler, "_reconciler", False):
            logger.removeHandler(handler)
    if level is None:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler._reconciler = True  # type: ignore[attr-defined]
    handler.setFormatter(_Utc("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_Scrub())
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
