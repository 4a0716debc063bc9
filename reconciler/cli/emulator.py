"""``reconciler emulator``: serve the local Graph + Entra emulator, and probe a running one."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from reconciler import DOCS_URL
from reconciler.extras import needs


def _pairs(values: tuple[str, ...], flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        key, sep, raw = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected NAME=VALUE, got {value!r}", param_hint=flag)
        out[key.strip()] = raw.strip()
    return out


@click.group()
def emulator() -> None:
    """The bundled emulator of Microsoft Graph (cross-tenant migration API) and Entra ID."""


@emulator.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=0, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port.")
@click.option(
    "--seed",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML/JSON seed file describing tenants, directory, trust and switches.",
)
@click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Persist everything here and continue from it on the next start.",
)
@click.option(
    "--connection-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the connection JSON here once requests are accepted.",
)
@click.option(
    "--ca-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the CA certificate (default: beside --state, else a temporary folder).",
)
@click.option(
    "--faults",
    help=f"Fault settings: a YAML/JSON file or inline JSON (format: section 7 of {DOCS_URL}/specs/graph/behaviour.md).",
)
@click.option("--behaviour", multiple=True, metavar="NAME=VALUE", help="Set a behaviour switch (repeatable).")
@click.option(
    "--engine",
    multiple=True,
    metavar="NAME=VALUE",
    help="Set a migration engine setting, e.g. duration_seconds=0 (repeatable).",
)
@click.option(
    "--speed",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="How fast emulated time runs compared with the wall clock.",
)
@click.option(
    "--token-lifetime",
    default=3599,
    show_default=True,
    type=click.IntRange(1, 86400),
    help="Access token lifetime in seconds.",
)
@click.option(
    "--control-key",
    envvar="RECONCILER_EMULATOR_CONTROL_KEY",
    help="Also require this X-Emulator-Key header on the control API.",
)
@click.option(
    "--log-level",
    default="warning",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
def serve(
    host: str,
    port: int,
    seed: Path | None,
    state: Path | None,
    connection_file: Path | None,
    ca_file: Path | None,
    faults: str | None,
    behaviour: tuple[str, ...],
    engine: tuple[str, ...],
    speed: float,
    token_lifetime: int,
    control_key: str | None,
    log_level: str,
) -> None:
    """Serve the emulator over HTTPS until interrupted."""
    with needs("emulator"):
        from reconciler.emulator.server import ServeError, ServeOptions, run

    options = ServeOptions(
        host=host,
        port=port,
        seed=seed,
        state=state,
        connection_file=connection_file,
        ca_file=ca_file,
        faults=faults,
        behaviour=_pairs(behaviour, "--behaviour"),
        engine=_pairs(engine, "--engine"),
        speed=speed,
        token_lifetime=token_lifetime,
        control_key=control_key,
        log_level=log_level,
    )

    def ready(info: dict[str, Any]) -> None:
        where = f"; connection file {connection_file}" if connection_file else ""
        click.echo(f"reconciler emulator: listening on {info['authority_base_url']}{where}", err=True)
        if connection_file is None:
            click.echo(json.dumps(info, indent=2))
        sys.stdout.flush()

    try:
        run(options, ready)
    except ServeError as exc:
        raise click.ClickException(str(exc)) from exc
    except KeyboardInterrupt:
        pass


@emulator.command("probe")
@click.option(
    "--connection-file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The connection file a running emulator wrote.",
)
def probe_cmd(connection_file: Path) -> None:
    """Show a running emulator answering: msal tokens for both tenants, a mapping write and read, a pre-flight."""
    from reconciler.emulator.probe import ProbeError, probe

    try:
        for line in probe(connection_file):
            click.echo(line)
    except ProbeError as exc:
        raise click.ClickException(str(exc)) from exc
