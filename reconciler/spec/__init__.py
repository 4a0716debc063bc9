"""Desired state: spec file models, loaders (YAML and CSV), diagnostics, checks and JSON Schema.

The bottom layer: pure, no network. ``loader.read_specs`` reads spec files (and the CSV files they
name) into validated items, ``resolve.resolve`` checks them as a whole and builds a ``Desired``; both
report into one ``Diagnostics``. The workspace layer decides which files and tenant facts to use.
This package file imports nothing, so ``desired`` stays cheap for the planner to import.
"""
