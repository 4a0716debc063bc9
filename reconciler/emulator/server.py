"""Run the emulator: build or load the runtime, serve HTTPS (uvicorn), write the connection file, persist."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from reconciler.emulator import state as state_io
from reconciler.emulator.app import EmulatorApp
from reconciler.emulator.runtime import Runtime
from reconciler.emulator.settings import Behaviour, EngineSettings, Faults
from reconciler.emulator.tls import server_certificate
from reconciler.emulator.world import Seed

SAVE_INTERVAL = 0.2


class ServeError(Exception):
    """A start-up problem, reported as one clear line naming the file or option."""


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 0
    seed: Path | None = None
    state: Path | None = None
    connection_file: Path | None = None
    ca_file: Path | None = None
    faults: str | None = None  # a JSON/YAML file path or inline JSON
    behaviour: dict[str, str] = field(default_factory=dict)
    engine: dict[str, str] = field(default_factory=dict)
    speed: float = 1.0
    token_lifetime: int = 3599
    control_key: str | None = None
    log_level: str = "warning"


def _load_document(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ServeError(f"{path}: cannot read the {what}: {exc.strerror}") from exc
    try:
        return YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        raise ServeError(f"{path}: the {what} is not valid YAML/JSON: {exc}") from exc


def _pydantic_problem(source: str, error: ValidationError) -> ServeError:
    lines = [f"{source}: {'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in error.errors()]
    return ServeError("\n".join(lines))


def _overrides(model: type[Behaviour] | type[EngineSettings], base: Any, pairs: dict[str, str], flag: str) -> Any:
    data = base.model_dump()
    for key, raw in pairs.items():
        if key not in data:
            raise ServeError(f"{flag} {key}=…: unknown name; known: {', '.join(sorted(data))}")
        data[key] = raw
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _pydantic_problem(flag, exc) from exc


def build_runtime(options: ServeOptions) -> Runtime:
    if options.state is not None and options.state.exists():
        try:
            rt = state_io.load(options.state, options.token_lifetime)
        except state_io.StateFileError as exc:
            raise ServeError(str(exc)) from exc
        if options.seed is not None:
            print(
                f"reconciler emulator: {options.state} exists; --seed {options.seed} is ignored",
                file=sys.stderr,
            )
    else:
        seed = None
        if options.seed is not None:
            try:
                seed = Seed.model_validate(_load_document(options.seed, "seed file") or {})
            except ValidationError as exc:
                raise _pydantic_problem(str(options.seed), exc) from exc
        try:
            rt = Runtime.create(seed, speed=options.speed, token_lifetime=options.token_lifetime)
        except ValueError as exc:
            raise ServeError(f"{options.seed or 'default world'}: {exc}") from exc
    if options.behaviour:
        rt.behaviour = _overrides(Behaviour, rt.behaviour, options.behaviour, "--behaviour")
    if options.engine:
        rt.engine = _overrides(EngineSettings, rt.engine, options.engine, "--engine")
    if options.faults:
        raw = options.faults.strip()
        doc = json.loads(raw) if raw.startswith("{") else _load_document(Path(raw), "faults file")
        try:
            rt.faults.configure(Faults.model_validate(doc or {}))
        except ValidationError as exc:
            raise _pydantic_problem("--faults", exc) from exc
    if options.speed != 1.0:
        rt.clock.set_speed(options.speed)
    rt.control_key = options.control_key
    return rt


class _DropFilter(logging.Filter):
    # A deliberately dropped connection makes uvicorn complain that no response was started.
    def filter(self, record: logging.LogRecord) -> bool:
        return "without starting response" not in record.getMessage()


class _Server(uvicorn.Server):
    """uvicorn, with a hook that runs once connections are closed.

    uvicorn re-raises the signal that stopped it after ``serve`` returns; with the default handler
    that ends the process at once, so the final state save must happen inside the shutdown.
    """

    def __init__(self, config: uvicorn.Config, on_shutdown: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_shutdown = on_shutdown

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets=sockets)
        self._on_shutdown()


class EmulatorServer:
    def __init__(self, options: ServeOptions, runtime: Runtime | None = None) -> None:
        self.options = options
        self.runtime = runtime or build_runtime(options)
        self.port: int | None = None
        self._saved_revision = -1
        self._server: uvicorn.Server | None = None

    def connection(self, port: int, ca_file: Path) -> dict[str, Any]:
        rt = self.runtime
        host = self.options.host
        shown = f"[{host}]" if ":" in host else host
        if host in ("0.0.0.0", "::"):
            shown = "127.0.0.1"
        base = f"https://{shown}:{port}"

        def tenant(name: str) -> dict[str, Any]:
            t = rt.world.by_name(name)
            assert t is not None
            app = next(iter(t.apps.values()))
            return {
                "name": t.name,
                "tenant_id": t.tenant_id,
                "domain": t.domain,
                "client_id": app.client_id,
                "client_secret": app.secrets[0],
            }

        return {
            "graph_base_url": f"{base}/beta",
            "authority_base_url": base,
            "ca_file": str(ca_file.resolve()),
            "control_url": f"{base}/_emulator",
            "tenants": {"source": tenant(rt.world.source_name), "target": tenant(rt.world.target_name)},
        }

    def _save(self) -> None:
        if self.options.state is None or self.runtime.revision == self._saved_revision:
            return
        revision = self.runtime.revision
        state_io.save(self.runtime, self.options.state)
        self._saved_revision = revision

    async def _saver(self) -> None:
        while True:
            await asyncio.sleep(SAVE_INTERVAL)
            self._save()

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True

    async def serve(self, on_ready: Callable[[dict[str, Any]], None] | None = None) -> None:
        opts = self.options
        workdir = Path(tempfile.mkdtemp(prefix="reconciler-emulator-"))
        try:
            cert_pem, key_pem = server_certificate(self.runtime.ca, [opts.host])
            cert_file, key_file = workdir / "server.pem", workdir / "server.key"
            cert_file.write_text(cert_pem)
            key_file.touch(mode=0o600)
            key_file.write_text(key_pem)
            ca_file = opts.ca_file or (
                opts.state.with_name(opts.state.name + ".ca.pem") if opts.state else workdir / "ca.pem"
            )
            state_io.write_atomic(ca_file, self.runtime.ca.cert_pem, mode=0o644)
            family = socket.AF_INET6 if ":" in opts.host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((opts.host, opts.port))
            except OSError as exc:
                raise ServeError(f"cannot listen on {opts.host}:{opts.port}: {exc.strerror}") from exc
            self.port = sock.getsockname()[1]
            logging.getLogger("uvicorn.error").addFilter(_DropFilter())
            config = uvicorn.Config(
                EmulatorApp(self.runtime),
                log_level=opts.log_level,
                access_log=False,
                ssl_certfile=str(cert_file),
                ssl_keyfile=str(key_file),
                http="httptools",
                lifespan="off",
                server_header=False,
                date_header=False,  # the app sends the emulated clock's Date
                proxy_headers=False,
                timeout_keep_alive=30,
                backlog=2048,
            )

            def on_shutdown() -> None:
                # The signal that stopped uvicorn is re-raised after shutdown: clean up inside it too.
                self._save()
                shutil.rmtree(workdir, ignore_errors=True)

            self._server = _Server(config, on_shutdown)
            serve_task = asyncio.create_task(self._server.serve(sockets=[sock]))
            saver = asyncio.create_task(self._saver())
            while not self._server.started:
                if serve_task.done():
                    await serve_task
                    raise ServeError("the HTTPS server stopped during start-up")
                await asyncio.sleep(0.01)
            info = self.connection(self.port, ca_file)
            if opts.connection_file is not None:
                state_io.write_atomic(opts.connection_file, json.dumps(info, indent=2) + "\n", mode=0o600)
            self._save()
            if on_ready is not None:
                on_ready(info)
            try:
                await serve_task
            finally:
                saver.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await saver
                self._save()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


def run(options: ServeOptions, on_ready: Callable[[dict[str, Any]], None] | None = None) -> None:
    server = EmulatorServer(options)
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:  # uvloop is optional: plain asyncio works, only slower
        runner = asyncio.Runner()
    with runner:
        runner.run(server.serve(on_ready))
