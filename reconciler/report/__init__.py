"""The status report: one model of the managed migrations (``model``), failure triage (``triage``), and one
renderer per ``status --format`` (text, JSON, Markdown, CSV, HTML), chosen from ``render.RENDERERS``."""
