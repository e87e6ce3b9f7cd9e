"""The embedded local stack: TLS material, the Graph simulator and Azurite, plus the app settings that point the
product at them. Used by `./dev export`, the integration tests and the benchmarks. Dev-only."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from local.azurite import Azurite
from local.graphsim import GraphSimulator, SimConfig
from local.tls import LocalTls, ensure_local_tls
from shared.settings import SETTINGS_BY_NAME, Settings, load_settings

# App settings that binding expressions name (%EXPORT_SCHEDULE%, ...): the host needs them set.
BINDING_SETTINGS = ("EXPORT_SCHEDULE", "EXPORT_QUEUE", "WEBHOOK_QUEUE", "SUBSCRIPTION_UPKEEP_SCHEDULE")


class LocalStack:
    """Start with `with LocalStack(SimConfig(...)) as stack:`; everything started is stopped on exit."""

    def __init__(self, sim_config: SimConfig | None = None, *, azurite_dir: Path | None = None) -> None:
        self.sim_config = sim_config or SimConfig()
        self._azurite_dir = azurite_dir
        self.tls: LocalTls | None = None
        self.sim: GraphSimulator | None = None
        self.azurite: Azurite | None = None
        self._saved_env: dict[str, str | None] = {}

    def start(self) -> LocalStack:
        self.tls = ensure_local_tls()
        # azure-identity and requests read the CA bundle from the environment; these machines preset it to the
        # system bundle, so it is set explicitly to one that also trusts the local CA.
        for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            self._saved_env[name] = os.environ.get(name)
            os.environ[name] = str(self.tls.ca_bundle_path)
        self.azurite = Azurite(self._azurite_dir).start()
        self.sim = GraphSimulator(self.sim_config, tls=self.tls).start()
        return self

    def stop(self) -> None:
        if self.sim is not None:
            self.sim.stop()
        if self.azurite is not None:
            self.azurite.close()
        restore_environ(self._saved_env)

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def env(self, **overrides: Any) -> dict[str, str]:
        """App settings for the product against this stack, in the form the Functions host gives them."""
        assert self.sim is not None and self.azurite is not None, "start the stack first"
        env = {
            "GRAPH_CLOUD": "Global",
            "GRAPH_TENANT_IDS": ",".join(self.sim.tenants),
            "GRAPH_AUTH_MODE": "client_secret",
            "GRAPH_CLIENT_ID": self.sim.client_id,
            "GRAPH_CLIENT_SECRET": self.sim.client_secret,
            "GRAPH_ENDPOINT": self.sim.base_url,
            "GRAPH_AUTHORITY_HOST": self.sim.base_url,
            "GRAPH_DISABLE_INSTANCE_DISCOVERY": "true",
            "BRIDGE_STORAGE": self.azurite.connection_string,
            # Binding expressions (%NAME%) are resolved by the host from app settings, never from the code's
            # defaults, so the settings that bindings name are always given.
            **{name: SETTINGS_BY_NAME[name].default or "" for name in BINDING_SETTINGS},
        }
        env.update({key: str(value) for key, value in overrides.items()})
        return env

    def settings(self, **overrides: Any) -> Settings:
        return load_settings(self.env(**overrides))


def restore_environ(saved: dict[str, str | None]) -> None:
    """Put back the environment variables saved as {name: value before, None when it was unset}; empties `saved`."""
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    saved.clear()
