"""Run the Graph simulator as a process.

    python -m local.graphsim --port 0 --alerts 5000 [--profile observed] [--tenants 2] [--no-throttle] ...

Prints one JSON line when ready: {"base_url", "tenants", "client_id", "client_secret", "ca_bundle", "ca_cert"}, then
serves until SIGTERM or SIGINT. The /_sim control API (see control.py) is unauthenticated: loopback and dev only.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from ..tls import ensure_local_tls
from .config import SimConfig
from .profiles import PROFILES
from .simulator import GraphSimulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = SimConfig()
    p = argparse.ArgumentParser(prog="python -m local.graphsim", description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1", choices=("127.0.0.1", "::1"), help="loopback address to bind")
    p.add_argument("--port", type=int, default=0, help="0 = a free port")
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--tenants", type=int, default=defaults.tenants)
    p.add_argument("--alerts", type=int, default=defaults.alerts, help="alerts per tenant")
    p.add_argument("--profile", choices=tuple(PROFILES), default=defaults.profile,
                   help="paging behaviour: as documented, or as observed in the field (see README)")
    p.add_argument("--alerts-per-incident", type=float, default=defaults.alerts_per_incident)
    p.add_argument("--risk-detections", type=int, default=defaults.risk_detections)
    p.add_argument("--risky-users", type=int, default=defaults.risky_users)
    p.add_argument("--risky-service-principals", type=int, default=defaults.risky_service_principals)
    p.add_argument("--sp-risk-detections", type=int, default=defaults.service_principal_risk_detections)
    p.add_argument("--history-days", type=float, default=defaults.history_days)
    p.add_argument("--evidence-kb", type=float, default=defaults.evidence_kb)
    p.add_argument("--no-throttle", action="store_true", help="turn throttling off")
    p.add_argument("--throttle-scale", type=float, default=defaults.throttle_scale)
    p.add_argument("--token-expires-in", type=int, default=defaults.token_expires_in)
    p.add_argument("--client-id", default=defaults.client_id)
    p.add_argument("--client-secret", default=defaults.client_secret)
    p.add_argument("--tls-dir", type=Path, default=None, help="default: <repo>/.local/tls")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = SimConfig(
        seed=args.seed,
        tenants=args.tenants,
        alerts=args.alerts,
        profile=args.profile,
        alerts_per_incident=args.alerts_per_incident,
        risk_detections=args.risk_detections,
        risky_users=args.risky_users,
        risky_service_principals=args.risky_service_principals,
        service_principal_risk_detections=args.sp_risk_detections,
        history_days=args.history_days,
        evidence_kb=args.evidence_kb,
        throttle=not args.no_throttle,
        throttle_scale=args.throttle_scale,
        token_expires_in=args.token_expires_in,
        client_id=args.client_id,
        client_secret=args.client_secret,
        host=args.host,
        port=args.port,
    )
    tls = ensure_local_tls(args.tls_dir)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with GraphSimulator(config, tls=tls) as sim:
        ready = {
            "base_url": sim.base_url,
            "tenants": list(sim.tenants),
            "client_id": sim.client_id,
            "client_secret": sim.client_secret,
            "ca_bundle": str(tls.ca_bundle_path),
            "ca_cert": str(tls.ca_cert_path),
        }
        sys.stdout.write(json.dumps(ready) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
