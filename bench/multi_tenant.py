"""Many tenants: one incremental pass of all six streams, sequential (today's timers) against the fan-out over N
queue workers, measured in the same run, at Graph's real limits.

    ./dev bench multi_tenant [--tenants 200] [--workers 1,2,4,8] [--sequential-sample 10] [--items-per-worker K]

The Graph simulator (throttling on, Graph's limits: /security 150 requests a minute per tenant, Identity Protection
1 a second per tenant) and Azurite run once for the whole benchmark; the app uses its default client-side budgets.
- prepare (not timed): a first pass of every tenant, so that every later pass is incremental;
- sequential: ExportEngine.run_all in one process, tenant after tenant, stream after stream, as one timer ran
  before the fan-out (with --sequential-sample S, S tenants are measured and the time scaled to all tenants);
- fan-out N: N worker processes, each a dev host running the export_worker queue trigger as one Functions instance
  would: with the app's host.json (batchSize 8 + newBatchThreshold 4: up to 12 items at once per instance), or with
  --items-per-worker K, K at a time (K=1: batchSize 1, newBatchThreshold 0). The timers enqueue; the pass ends when
  every work item is settled. Two passes per N: "cold", the workers' first (each also gets every tenant's token
  for the first time), and "warm", the next one (the steady state: tokens last an hour, ticks come every 5 minutes;
  the sequential pass runs warm too). Worker logs go to a temporary file (printed on failure).
Before each pass, two alerts of every tenant change, so every pass has something to write. Printed: wall time per
pass, speed-up against sequential, Graph requests, the simulator's 429 answers (goal: under 1 %), and the CPU time
the pass cost (this process with the simulator and the timers, Azurite, the workers) with the load average: on a
shared machine the wall time says how busy the machine was, the CPU time what the pass itself needs.
Goal (issue 13): with 8 workers at least 8x faster than sequential, and a pass of 200 tenants within 60 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
EXPORT_QUEUE = "bench-export-work"


def worker(env: dict[str, str], host_json: str) -> None:
    """One worker process: a dev host running the queue trigger until its stdin closes."""
    # A warm instance: the libraries the worker loads on its first item (seconds of CPU on a busy machine) are
    # loaded before the pass is timed, as on a Functions instance that has run before.
    import azure.identity
    import azure.storage.blob

    import function_app
    import shared.export.engine
    from local.devhost import DevHost

    del azure, shared  # loaded for their cost only

    with DevHost(function_app.app, env, host_json=Path(host_json), run_queue_triggers=True,
                 queue_poll_interval=0.05):
        print("ready", flush=True)
        sys.stdin.read()


def start_workers(count: int, env: dict[str, str], host_json: Path, log: Any) -> list[subprocess.Popen[str]]:
    workers = [subprocess.Popen([sys.executable, "-m", "bench", "multi_tenant", "--worker", str(host_json)],
                                cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)
               for _ in range(count)]
    for process in workers:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(json.dumps(env) + "\n")
        process.stdin.flush()
    for process in workers:
        line = process.stdout.readline().strip()  # type: ignore[union-attr]
        if line != "ready":
            stop_workers(workers)
            raise SystemExit(f"a worker did not start (said {line!r})")
    return workers


def stop_workers(workers: list[subprocess.Popen[str]]) -> None:
    for process in workers:
        if process.stdin:
            process.stdin.close()
    for process in workers:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of processes so far (Linux /proc), this one's included when its pid is listed."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


class Pass:
    """One timed pass: wall time, Graph requests and 429s, and the CPU each group of processes spent on it."""

    def __init__(self, sim: Any, groups: dict[str, list[int]]) -> None:
        self.sim = sim
        self.groups = groups

    def __enter__(self) -> Pass:
        self.sim.reset_throttle()
        self.requests_before = len(self.sim.request_log)
        self.cpu_before = {name: cpu_seconds(pids) for name, pids in self.groups.items()}
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.seconds = time.perf_counter() - self.started
        self.cpu_by_group = {name: cpu_seconds(pids) - self.cpu_before[name] for name, pids in self.groups.items()}
        self.cpu = sum(self.cpu_by_group.values())
        self.load = os.getloadavg()[0]
        self.requests = len(self.sim.request_log) - self.requests_before
        self.throttled = sum(self.sim.throttled_count.values())

    def cpu_split(self, scale: float = 1.0) -> str:
        return "CPU " + ", ".join(f"{name} {seconds * scale:.0f}" for name, seconds in self.cpu_by_group.items())


def touch_tenants(sim: Any) -> None:
    for tenant in sim.tenants:
        sim.update_alerts(tenant, count=2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev bench multi_tenant", description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--workers", default="1,2,4,8", help="comma-separated worker counts")
    parser.add_argument("--sequential-sample", type=int, default=10,
                        help="tenants the sequential pass measures (its time is scaled to all); 0: all")
    parser.add_argument("--items-per-worker", type=int, default=None,
                        help="items one worker runs at once (default: host.json's batchSize + newBatchThreshold)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds one fanned-out pass may take")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(json.loads(sys.stdin.readline()), args.worker)
        return 0

    from local.devhost import DevHost, queue_settings
    from local.graphsim import SimConfig
    from local.stack import LocalStack
    from shared.export.engine import ExportEngine
    from shared.export.fanout import MARKER_PREFIX
    from shared.export.streams import EXPORT_FAMILIES
    from shared.storage.clients import Patience, blob_service

    counts = [int(n) for n in args.workers.split(",") if n.strip()]
    config = SimConfig(tenants=args.tenants, seed=13, alerts=30, risk_detections=12, risky_users=6,
                       risky_service_principals=3, service_principal_risk_detections=4, throttle=True,
                       request_log_size=1_000_000)
    print(f"Multi-tenant pass: {args.tenants} tenants, six streams, Graph's limits (simulator throttle on)")
    with LocalStack(config) as stack:
        sim = stack.sim
        assert sim is not None
        env = stack.env(EXPORT_CONTAINER="bench-mt-export", STATE_CONTAINER="bench-mt-state",
                        AUDIT_CONTAINER="bench-mt-audit", EXPORT_QUEUE=EXPORT_QUEUE,
                        EXPORT_INITIAL_LOOKBACK_DAYS="30")
        settings = stack.settings(**env)
        # The pass's end is watched with short storage timeouts and retries: a slow answer to this watcher must not
        # end the benchmark (one run saw a listing wait out the default 60 s read timeout after seven passes).
        state = blob_service(settings, patience=Patience.INTERACTIVE).get_container_client(settings.state_container)

        # Prepare: the first pass of every tenant, Graph's limits off (not timed).
        sim.throttler.enabled = False
        fast = stack.settings(**env, GRAPH_SECURITY_REQUESTS_PER_MINUTE="100000",
                              GRAPH_IDENTITY_REQUESTS_PER_SECOND="1000")
        prepared = ExportEngine(fast)
        with ThreadPoolExecutor(max_workers=8) as pool:
            failed = [s for batch in pool.map(lambda t: prepared.run_all(tenants=(t,)), sim.tenants)
                      for s in batch if s.status != "ok"]
        if failed:
            raise SystemExit(f"the first pass failed: {failed[0].error}")
        sim.throttler.enabled = True

        rows: list[tuple[str, float, int, int, float, str]] = []
        assert stack.azurite is not None and stack.azurite._process is not None
        # The simulator runs in this process (with the sequential pass, or the timers of the fanned-out ones).
        services = {"this process": [os.getpid()], "Azurite": [stack.azurite._process.pid]}
        sample = sim.tenants[: args.sequential_sample or None]
        touch_tenants(sim)
        engine = ExportEngine(settings)
        with Pass(sim, services) as sequential:
            summaries = engine.run_all(tenants=sample)
        bad = [s for s in summaries if s.status != "ok"]
        scale = len(sim.tenants) / len(sample)
        sequential_seconds = sequential.seconds * scale
        note = f"measured on {len(sample)} tenants, x{scale:g}" if scale != 1 else "measured"
        rows.append(("sequential", sequential_seconds, sequential.requests, sequential.throttled,
                     sequential.cpu * scale, note + (f", {len(bad)} runs not ok" if bad else "")
                     + f"; load {sequential.load:.0f}; {sequential.cpu_split(scale)}"))
        print_rows(rows)

        with tempfile.TemporaryDirectory() as tmp, DevHost(__import__("function_app").app, env,
                                                           run_queue_triggers=False) as timers:
            host_json = Path(tmp) / "host.json"
            config_json = json.loads((REPO / "host.json").read_text())
            if args.items_per_worker:
                config_json["extensions"]["queues"].update(batchSize=args.items_per_worker, newBatchThreshold=0)
            host_json.write_text(json.dumps(config_json))
            queues = queue_settings(host_json)
            print(f"Each worker runs up to {queues.batch_size + queues.new_batch_threshold} items at once")
            log = (Path(tmp) / "workers.log").open("w")
            for count in counts:
                workers = start_workers(count, env, host_json, log)
                try:
                    # The first pass of a new instance also gets every tenant's token (one discovery and one token
                    # request per tenant, each new to it); the next pass is the steady state of a warm instance,
                    # which holds tokens for an hour: eleven ticks of every twelve.
                    for label in ("cold", "warm"):
                        touch_tenants(sim)
                        with Pass(sim, {**services, "workers": [w.pid for w in workers]}) as fanned:
                            for family in EXPORT_FAMILIES:
                                timers.run_timer(f"export_{family.value}_timer")
                            while any(True for _ in state.list_blobs(name_starts_with=f"{MARKER_PREFIX}/")):
                                time.sleep(0.2)
                                if time.perf_counter() - fanned.started > args.timeout:
                                    log.flush()
                                    print((Path(tmp) / "workers.log").read_text()[-5000:])
                                    raise SystemExit(f"the pass with {count} workers did not finish in "
                                                     f"{args.timeout} s")
                        rows.append((f"fan-out, {count} workers, {label}", fanned.seconds, fanned.requests,
                                     fanned.throttled, fanned.cpu, f"x{sequential_seconds / fanned.seconds:.1f} vs "
                                     f"sequential; load {fanned.load:.0f}; {fanned.cpu_split()}"))
                        print_rows(rows[-1:])  # as it comes: a long run shows its progress
                finally:
                    stop_workers(workers)

        print_rows(rows)
    return 0


def print_rows(rows: list[tuple[str, float, int, int, float, str]]) -> None:
    print(f"\n{'pass':<28} {'wall s':>8} {'requests':>9} {'429s':>6} {'429 %':>6} {'CPU s':>7}  note")
    for name, seconds, requests_, throttled, cpu, note in rows:
        share = 100 * throttled / requests_ if requests_ else 0.0
        print(f"{name:<28} {seconds:8.1f} {requests_:9d} {throttled:6d} {share:6.2f} {cpu:7.1f}  {note}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
