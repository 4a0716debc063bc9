"""Persistence for ``--state FILE``: the whole runtime as one JSON document, written atomically."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.emulator.auth import TokenService
from reconciler.emulator.clock import Clock, parse_time
from reconciler.emulator.faults import FaultInjector
from reconciler.emulator.runtime import Runtime
from reconciler.emulator.settings import Behaviour, EngineSettings, Faults
from reconciler.emulator.tls import CertificateAuthority
from reconciler.emulator.world import AppRegistration, FederatedCredential, Group, Seed, Site, Task, Tenant, User, World

FORMAT_VERSION = 1


class StateFileError(Exception):
    pass


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse(value: str | None) -> datetime | None:
    return parse_time(value) if value is not None else None


def snapshot(rt: Runtime) -> dict[str, Any]:
    w = rt.world
    return {
        "format_version": FORMAT_VERSION,
        "ca": {"key_pem": rt.ca.key_pem, "cert_pem": rt.ca.cert_pem},
        "signing_key_pem": rt.signing_key_pem,
        "oidc_key_pem": rt.tokens.oidc.key_pem,
        "seed": rt.seed.model_dump(mode="json"),
        "clock": {
            "now": rt.clock.now().isoformat(),
            "wall": datetime.now(UTC).isoformat(),
            "speed": rt.clock.speed,
        },
        "initial_speed": rt.initial_speed,
        "behaviour": rt.behaviour.model_dump(),
        "engine": rt.engine.model_dump(),
        "faults": rt.faults.faults.model_dump(),
        "world": {
            "source_name": w.source_name,
            "target_name": w.target_name,
            "trust": sorted([s, d] for s, d in w.trust),
            "tenants": [_tenant_out(t) for t in w.tenants.values()],
        },
    }


def _tenant_out(t: Tenant) -> dict[str, Any]:
    return {
        "name": t.name,
        "tenant_id": t.tenant_id,
        "domain": t.domain,
        "data_location": t.data_location,
        "farm": t.farm,
        "users": [asdict(u) for u in t.users_by_upn.values()],
        "sites": [asdict(s) for s in t.sites.values() if s.group_id is None],
        "groups": [asdict(g) for g in t.groups_by_id.values()],
        "apps": [asdict(a) for a in t.apps.values()],
        "user_mappings": t.user_mappings,
        "group_mappings": t.group_mappings,
        "tasks": [
            {
                **{
                    k: v
                    for k, v in asdict(task).items()
                    if k not in ("created", "start_at", "latest_start", "cancelled_at", "stuck_at")
                },
                "created": _time(task.created),
                "start_at": _time(task.start_at),
                "latest_start": _time(task.latest_start),
                "cancelled_at": _time(task.cancelled_at),
                "stuck_at": _time(task.stuck_at),
            }
            for task in t.tasks.values()
        ],
    }


def _tenant_in(d: dict[str, Any]) -> Tenant:
    t = Tenant(d["name"], d["tenant_id"], d["domain"], d["data_location"], d["farm"])
    for u in d["users"]:
        t.add_user(User(**u))
    for s in d["sites"]:
        site = Site(**s)
        t.sites[site.url.rstrip("/").lower()] = site
    for g in d["groups"]:
        t.add_group(Group(**g))
    for a in d["apps"]:
        federated = [FederatedCredential(**f) for f in a.pop("federated_credentials", [])]
        app = AppRegistration(**a, federated_credentials=federated)
        t.apps[app.client_id.lower()] = app
    t.user_mappings = d["user_mappings"]
    t.group_mappings = d["group_mappings"]
    for raw in d["tasks"]:
        created, start_at = _parse(raw["created"]), _parse(raw["start_at"])
        if created is None or start_at is None:
            raise ValueError(f"task {raw.get('id')} has no creation or start time")
        t.add_task(
            Task(
                id=raw["id"],
                kind=raw["kind"],
                source_key=raw["source_key"],
                target_tenant_id=raw["target_tenant_id"],
                parameters=raw["parameters"],
                created=created,
                start_at=start_at,
                duration=raw["duration"],
                latest_start=_parse(raw["latest_start"]),
                error=raw["error"],
                cancelled_at=_parse(raw["cancelled_at"]),
                stuck_at=_parse(raw.get("stuck_at")),
            )
        )
    return t


def restore(data: dict[str, Any], token_lifetime: int) -> Runtime:
    if data.get("format_version") != FORMAT_VERSION:
        raise StateFileError(
            f"unsupported state format_version {data.get('format_version')!r} (this emulator reads {FORMAT_VERSION})"
        )
    w = data["world"]
    tenants = [_tenant_in(t) for t in w["tenants"]]
    world = World(
        {t.tenant_id.lower(): t for t in tenants},
        {(s, d) for s, d in w["trust"]},
        w["source_name"],
        w["target_name"],
    )
    # The emulated clock keeps its lead over the wall clock across a restart and never moves backwards.
    saved_now = parse_time(data["clock"]["now"])
    offset = saved_now - parse_time(data["clock"].get("wall", data["clock"]["now"]))
    speed = float(data["clock"]["speed"])
    clock_now = saved_now if speed == 0 else max(saved_now, datetime.now(UTC) + offset)
    rt = Runtime(
        seed=Seed.model_validate(data["seed"]),
        world=world,
        clock=Clock(speed, start=clock_now),
        behaviour=Behaviour.model_validate(data["behaviour"]),
        engine=EngineSettings.model_validate(data["engine"]),
        faults=FaultInjector(Faults.model_validate(data["faults"])),
        tokens=TokenService(data["signing_key_pem"], token_lifetime, data.get("oidc_key_pem")),
        ca=CertificateAuthority(data["ca"]["key_pem"], data["ca"]["cert_pem"]),
        signing_key_pem=data["signing_key_pem"],
        initial_speed=float(data.get("initial_speed", 1.0)),
    )
    return rt


def load(path: Path, token_lifetime: int) -> Runtime:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise StateFileError(f"{path}: cannot read the emulator state: {exc}") from exc
    try:
        return restore(data, token_lifetime)
    except StateFileError as exc:
        raise StateFileError(f"{path}: {exc}") from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise StateFileError(f"{path}: the emulator state is damaged or from another version: {exc!r}") from exc


def write_atomic(path: Path, text: str, mode: int = 0o600) -> None:
    """Write via a temp file in the same directory, fsync, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def save(rt: Runtime, path: Path) -> None:
    write_atomic(path, json.dumps(snapshot(rt), separators=(",", ":")))
