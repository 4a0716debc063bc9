"""Command-line interface: thin commands that parse, call the library, render and set the exit code."""
