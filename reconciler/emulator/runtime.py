"""Everything one running emulator holds: the world, the clock, switches, keys, faults, counters."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from reconciler.emulator.auth import TokenService, new_signing_key_pem
from reconciler.emulator.clock import Clock
from reconciler.emulator.faults import FaultInjector
from reconciler.emulator.settings import Behaviour, EngineSettings
from reconciler.emulator.tls import CertificateAuthority, new_ca
from reconciler.emulator.world import Seed, World, build_world, default_seed


@dataclass
class Runtime:
    seed: Seed
    world: World
    clock: Clock
    behaviour: Behaviour
    engine: EngineSettings
    faults: FaultInjector
    tokens: TokenService
    ca: CertificateAuthority
    signing_key_pem: str
    control_key: str | None = None
    initial_speed: float = 1.0
    counters: defaultdict[str, defaultdict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    revision: int = 0  # bumped on every change that persistence must save

    @classmethod
    def create(
        cls,
        seed: Seed | None = None,
        *,
        speed: float = 1.0,
        token_lifetime: int = 3599,
        ca: CertificateAuthority | None = None,
        signing_key_pem: str | None = None,
    ) -> Runtime:
        seed = seed or default_seed()
        key = signing_key_pem or new_signing_key_pem()
        return cls(
            seed=seed,
            world=build_world(seed),
            clock=Clock(speed),
            behaviour=seed.behaviour.model_copy(),
            engine=seed.engine.model_copy(),
            faults=FaultInjector(seed.faults.model_copy(deep=True)),
            tokens=TokenService(key, token_lifetime),
            ca=ca or new_ca(),
            signing_key_pem=key,
            initial_speed=speed,
        )

    def changed(self) -> None:
        self.revision += 1

    def count(self, endpoint: str, status: int) -> None:
        self.counters[endpoint][str(status)] += 1

    def reset(self) -> None:
        """Back to the seed world; app secrets and certificates, the CA and the signing key are kept."""
        fresh = build_world(self.seed)
        for tenant in fresh.tenants.values():
            old = self.world.tenants.get(tenant.tenant_id.lower())
            if old is not None:
                tenant.apps = old.apps
        self.world = fresh
        self.clock = Clock(self.initial_speed)
        self.behaviour = self.seed.behaviour.model_copy()
        self.engine = self.seed.engine.model_copy()
        self.faults.configure(self.seed.faults.model_copy(deep=True))
        self.counters.clear()
        self.changed()
