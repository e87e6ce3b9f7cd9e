"""`python -m local.devhost`: the local stack and the app, served until interrupted."""

from __future__ import annotations

import logging
import secrets
import threading

from local.devhost.host import DevHost


def main(argv: list[str] | None = None) -> int:
    import argparse
    import signal

    parser = argparse.ArgumentParser(
        prog="python -m local.devhost",
        description="Serve the app's functions against the local stack (Graph simulator + Azurite).",
    )
    parser.add_argument("--port", type=int, default=7071, help="port to listen on (0: any free port)")
    parser.add_argument("--key", default=None, help="the function key to accept (default: a random one)")
    parser.add_argument("--master-key", default=None,
                        help="the master key, for admin routes and the admin API (default: a random one)")
    parser.add_argument("--alerts", type=int, default=200, help="alerts per tenant in the simulator")
    parser.add_argument("--no-throttle", action="store_true", help="turn off the simulator's Graph throttling")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="an extra app setting (repeatable), e.g. --set ACTIONS_ENABLED=false")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # What the app does in Azure (the SDKs' per-request lines would drown the app's: the queue listener polls
    # several times a second); the dev host's own queue polling logs through azure.storage too.
    from shared.app_logging import quiet_library_loggers

    quiet_library_loggers()

    from local.azurite import ACCOUNT
    from local.graphsim import SimConfig
    from local.stack import LocalStack

    extra = dict(item.split("=", 1) for item in args.set)
    with LocalStack(SimConfig(alerts=args.alerts, throttle=not args.no_throttle)) as stack:
        assert stack.azurite is not None and stack.sim is not None
        env = stack.env(AzureWebJobsStorage=stack.azurite.connection_string, **extra)
        import function_app

        key = args.key or secrets.token_urlsafe(24)
        master_key = args.master_key or secrets.token_urlsafe(24)
        with DevHost(function_app.app, env, {"default": key}, master_key=master_key, port=args.port) as host:
            tenant = stack.sim.tenants[0]
            alert = stack.sim.alerts(tenant)[0]["id"]
            print(f"Serving {len(host.routes)} HTTP functions at {host.base_url}", flush=True)
            print(f"Function key: {key}", flush=True)
            print(f"Master key: {master_key}", flush=True)
            queues = ", ".join(f"{name} <- {queue}" for name, queue in host.queue_triggers.items())
            print(f"Queue triggers run as messages arrive: {queues or 'none in this app'}", flush=True)
            timers = sorted(n for n, f in host.trigger_functions.items() if f.trigger_type == "timerTrigger")
            if timers:
                # Timers do not fire on their schedules here: fire them through the host's admin API.
                print(f"Timers (not run on schedule): {', '.join(timers)}", flush=True)
                print(f"Fire a timer: curl -X POST -H 'x-functions-key: {master_key}' -H 'Content-Type: "
                      f"application/json' -d '{{\"input\": \"\"}}' {host.root_url}/admin/functions/{timers[0]}",
                      flush=True)
            print(f"Graph simulator: {stack.sim.base_url} (tenant {tenant})", flush=True)
            print(f"Azurite blob endpoint: http://127.0.0.1:{stack.azurite.blob_port}/{ACCOUNT} (the well-known "
                  "development account)", flush=True)
            print(f"Try: curl -H 'x-functions-key: {key}' {host.base_url}/alerts/{alert}", flush=True)
            print(f"     curl -H 'x-functions-key: {key}' {host.base_url}/openapi.json", flush=True)
            stop = threading.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stop.set())
            stop.wait()
    return 0
