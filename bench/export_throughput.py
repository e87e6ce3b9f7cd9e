"""Export throughput and memory: our engine against the obvious other way, measured in the same run.

    ./dev bench export_throughput [--alerts 100000] [--small 10000] [--skip-sdk]

The Graph simulator runs in its own process (throttling off: this measures us, not Graph's limits) with realistic
alerts (evidence included, ~3 KB each), Azurite in another. Each contender runs in a fresh process so that its peak
RSS is its own:
- ours: ExportEngine.run("alerts") - paging, de-duplication, gzip NDJSON blobs, checkpoints and lease;
- baseline: the official Graph SDK (msgraph-sdk) paging alerts_v2 with the same $filter/$top, serialising each model
  back to JSON and writing the same gzip NDJSON blobs, one per page.
Targets (issue "Incremental export"): >= 3x the SDK's alerts/s, >= 5,000 alerts/s, peak RSS < 150 MB and growing
< 20% from --small to --alerts.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def worker_ours(args: argparse.Namespace) -> dict[str, float]:
    from shared.export.engine import ExportEngine
    from shared.settings import load_settings

    settings = load_settings(json.loads(args.env))
    engine = ExportEngine(settings)
    started = time.perf_counter()
    summary = engine.run("alerts", args.tenant)
    seconds = time.perf_counter() - started
    if summary.status != "ok":
        raise SystemExit(f"export failed: {summary.error}")
    return {"items": summary.items, "seconds": seconds, "peak_rss_mb": peak_rss_mb(), "blobs": summary.blobs}


def worker_sdk(args: argparse.Namespace) -> dict[str, float]:
    import asyncio
    import gzip

    from azure.identity.aio import ClientSecretCredential
    from azure.storage.blob import BlobServiceClient
    from kiota_abstractions.base_request_configuration import RequestConfiguration
    from kiota_serialization_json.json_serialization_writer import JsonSerializationWriter
    from msgraph import GraphServiceClient
    from msgraph.generated.security.alerts_v2.alerts_v2_request_builder import Alerts_v2RequestBuilder

    env = json.loads(args.env)
    container = BlobServiceClient.from_connection_string(env["BRIDGE_STORAGE"]).get_container_client("sdk-baseline")
    if not container.exists():
        container.create_container()
    low = (datetime.now(UTC) - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")

    async def run() -> int:
        credential = ClientSecretCredential(args.tenant, env["GRAPH_CLIENT_ID"], env["GRAPH_CLIENT_SECRET"],
                                            authority=env["GRAPH_AUTHORITY_HOST"], disable_instance_discovery=True)
        client = GraphServiceClient(credentials=credential, scopes=[env["GRAPH_ENDPOINT"] + "/.default"])
        client.request_adapter.base_url = env["GRAPH_ENDPOINT"] + "/v1.0"
        query = Alerts_v2RequestBuilder.Alerts_v2RequestBuilderGetQueryParameters(
            top=1000, filter=f"lastUpdateDateTime ge {low}")
        config = RequestConfiguration(query_parameters=query)
        page = await client.security.alerts_v2.get(request_configuration=config)
        count = seq = 0
        while page is not None:
            lines = []
            for alert in page.value or []:
                writer = JsonSerializationWriter()
                writer.write_object_value(None, alert)
                lines.append(writer.get_serialized_content())
            container.upload_blob(f"alerts/{seq:012d}.ndjson.gz", gzip.compress(b"\n".join(lines) + b"\n"),
                                  overwrite=True)
            count += len(lines)
            seq += 1
            if not page.odata_next_link:
                break
            page = await client.security.alerts_v2.with_url(page.odata_next_link).get()
        await credential.close()
        return count

    started = time.perf_counter()
    items = asyncio.run(run())
    return {"items": items, "seconds": time.perf_counter() - started, "peak_rss_mb": peak_rss_mb()}


def run_worker(kind: str, env: dict[str, str], tenant: str) -> dict[str, float]:
    child_env = dict(os.environ)
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        child_env[name] = env["_CA_BUNDLE"]
    output = subprocess.run(
        [sys.executable, "-m", "bench.export_throughput", "--worker", kind, "--tenant", tenant,
         "--env", json.dumps(env)],
        cwd=REPO, env=child_env, capture_output=True, text=True, check=False,
    )
    if output.returncode != 0:
        raise SystemExit(f"{kind} worker failed:\n{output.stderr[-3000:]}")
    return json.loads(output.stdout.strip().splitlines()[-1])


class SimProcess:
    """The Graph simulator in its own process (its CPU and memory are not the exporter's)."""

    def __init__(self, alerts: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "local.graphsim", "--port", "0", "--alerts", str(alerts), "--no-throttle",
             "--seed", "42"],
            cwd=REPO, stdout=subprocess.PIPE, text=True,
        )
        assert self.process.stdout is not None
        self.info = json.loads(self.process.stdout.readline())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def measure(alerts: int, with_sdk: bool) -> dict[str, dict[str, float]]:
    from local.azurite import Azurite
    from local.tls import ensure_local_tls

    tls = ensure_local_tls()
    print(f"  generating {alerts:,} alerts in the simulator ...", flush=True)
    sim = SimProcess(alerts)
    try:
        with Azurite() as azurite:
            tenant = sim.info["tenants"][0]
            env = {
                "GRAPH_TENANT_IDS": tenant, "GRAPH_AUTH_MODE": "client_secret",
                "GRAPH_CLIENT_ID": sim.info["client_id"], "GRAPH_CLIENT_SECRET": sim.info["client_secret"],
                "GRAPH_ENDPOINT": sim.info["base_url"], "GRAPH_AUTHORITY_HOST": sim.info["base_url"],
                "GRAPH_DISABLE_INSTANCE_DISCOVERY": "true", "BRIDGE_STORAGE": azurite.connection_string,
                "EXPORT_INITIAL_LOOKBACK_DAYS": "30", "EXPORT_TIME_BUDGET_SECONDS": "3600",
                "GRAPH_SECURITY_REQUESTS_PER_MINUTE": "100000", "_CA_BUNDLE": str(tls.ca_bundle_path),
            }
            results = {"ours": run_worker("ours", env, tenant)}
            if with_sdk:
                results["msgraph-sdk"] = run_worker("sdk", env, tenant)
            return results
    finally:
        sim.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev bench export_throughput", description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--skip-sdk", action="store_true", help="skip the msgraph-sdk baseline")
    parser.add_argument("--worker", choices=("ours", "sdk"), help=argparse.SUPPRESS)
    parser.add_argument("--tenant", help=argparse.SUPPRESS)
    parser.add_argument("--env", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        args.env = json.dumps({k: v for k, v in json.loads(args.env).items() if not k.startswith("_")})
        result = worker_ours(args) if args.worker == "ours" else worker_sdk(args)
        print(json.dumps(result))
        return 0

    with_sdk = not args.skip_sdk
    if with_sdk:
        try:
            import msgraph  # noqa: F401
        except ImportError:
            print("installing the baseline's packages (bench/requirements.txt) ...", flush=True)
            subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-r", str(REPO / "bench/requirements.txt")],
                           check=True)
    print(f"Export throughput: {args.small:,} and {args.alerts:,} alerts, simulator -> Azurite")
    small = measure(args.small, with_sdk=False)["ours"]
    large = measure(args.alerts, with_sdk=with_sdk)
    ours = large["ours"]
    rate = ours["items"] / ours["seconds"]
    print(f"\n{'contender':<14} {'alerts':>8} {'seconds':>8} {'alerts/s':>9} {'peak RSS':>9}")
    for name, result in (("ours (small)", small), *large.items()):
        print(f"{name:<14} {int(result['items']):>8} {result['seconds']:>8.1f} "
              f"{result['items'] / result['seconds']:>9.0f} {result['peak_rss_mb']:>7.0f} MB")
    growth = ours["peak_rss_mb"] / small["peak_rss_mb"] - 1
    print(f"\nours: {rate:,.0f} alerts/s (target >= 5,000); peak RSS {ours['peak_rss_mb']:.0f} MB (target < 150); "
          f"RSS growth {args.small:,} -> {args.alerts:,}: {growth:+.0%} (target < +20%)")
    if with_sdk:
        sdk = large["msgraph-sdk"]
        ratio = rate / (sdk["items"] / sdk["seconds"])
        print(f"ours / msgraph-sdk throughput: {ratio:.1f}x (target >= 3x); "
              f"RSS ours / sdk: {ours['peak_rss_mb'] / sdk['peak_rss_mb']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
