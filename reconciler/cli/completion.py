"""``reconciler completion bash|zsh|fish``: print the shell's completion script (click's), to source or install.

Completing needs no workspace and no network: the script calls ``reconciler`` back with
``_RECONCILER_COMPLETE`` set, and click answers from the command tree. How to install each shell's script is in
docs/commands.md.
"""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_RECONCILER_COMPLETE"  # what click derives from the program name; the scripts set it


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the completion script for SHELL (bash, zsh or fish); see docs/commands.md to install it."""
    root = ctx.find_root().command
    cls = get_completion_class(shell)
    assert cls is not None  # every name in SHELLS is one click ships
    click.echo(cls(root, {}, "reconciler", COMPLETE_VAR).source())
