"""`./dev export`: the product's main job on the embedded default stack, start to finish, with a readable report.

It starts the Graph simulator (over HTTPS, with tokens from its own token endpoint through azure-identity, exactly
the production credential path) and Azurite, exports every stream with the real engine, then changes data in the
simulator (new alerts sharing one timestamp, updated alerts) and runs the alerts stream again to show an incremental
run, and finally reads every blob back to check the exactly-once contract. Everything it started is stopped.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from local.export_check import ExportContents, missing_latest, read_export
from local.graphsim import SimConfig
from local.graphsim.directory import Directory, directory_of
from local.graphsim.profiles import PROFILES
from local.ocsf_check import ocsf_problems
from local.stack import LocalStack
from shared.context.streams import SOURCES, referenced
from shared.export.engine import ExportEngine, RunSummary
from shared.export.streams import GRAPH_STREAMS, STREAMS
from shared.ocsf.render import MAPPINGS

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="./dev export", description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=5000, help="alerts per tenant in the simulator (default 5000)")
    parser.add_argument("--tenants", type=int, default=1, help="simulated tenants (default 1)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the simulated data")
    parser.add_argument("--profile", choices=tuple(PROFILES), default="documented",
                        help="the simulator's paging: as Graph documents it (default), or as observed in the field "
                             "(no nextLink on security lists, $top clamped, short identity pages)")
    parser.add_argument("--streams", default=",".join(STREAMS),
                        help="comma-separated streams (default: all, the context streams included)")
    parser.add_argument("--formats", default="graph",
                        help="EXPORT_FORMATS: graph (default), or graph,ocsf to also write and check the OCSF output")
    parser.add_argument("--enrich", action="store_true",
                        help="EXPORT_ENRICH=true: add bridgeContext (users and devices of the evidence) to each alert")
    parser.add_argument("--no-throttle", action="store_true",
                        help="turn off the simulator's Graph throttling (it is on, at Graph's real limits)")
    parser.add_argument("--verbose", action="store_true", help="log every retry and warning")
    return parser.parse_args(argv)


def human_bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{count} B"


def print_table(summaries: list[RunSummary], tenants: int, ocsf: bool = False) -> None:
    header = f"{'stream':<31} {'status':<8} {'items':>7} {'dupes':>6} {'blobs':>5} {'bytes':>9} " \
             + (f"{'ocsf':>7} {'bytes':>9} " if ocsf else "") + f"{'pages':>5} {'429s':>4} {'time':>7}  cursor"
    print(header)
    print("-" * len(header))
    for s in summaries:
        label = s.stream if tenants == 1 else f"{s.stream} ({s.tenant[:8]})"
        rendition = (f"{s.ocsf.get('items', '-'):>7} {human_bytes(s.ocsf['bytes']) if s.ocsf else '-':>9} "
                     if ocsf else "")
        print(f"{label:<31} {s.status:<8} {s.items:>7} {s.duplicates:>6} {s.blobs:>5} {human_bytes(s.bytes):>9} "
              f"{rendition}{s.pages:>5} {s.throttled:>4} {s.seconds:>6.1f}s  {s.cursor or '-'}")
        if s.error:
            print(f"    error: {s.error}")
        for note in s.notes:
            print(f"    note: {note}")
        if s.crowded_timestamps:
            print(f"    warning: versions past Graph's $skip limit may be missing at {', '.join(s.crowded_timestamps)}")
        if s.context:
            c = s.context
            denied = "".join(f"; {p} not granted: {n} records without its fields" for p, n in c["denied"].items())
            errors = f" ({'; '.join(c['errors'])})" if c["errors"] else ""
            print(f"    context: {c['entities']} entities from {c['source_blobs']} source blobs, "
                  f"{c['cache_hits']} from the cache, {c['looked_up']} looked up with {c['lookups']} requests "
                  f"in {c['batches']} $batch calls, {c['unchanged']} unchanged, {c['not_found']} not in the "
                  f"directory, {c['retry']} kept for the next run{denied}{errors}")
        if s.enrichment:
            e = s.enrichment
            errors = f" ({'; '.join(e['errors'])})" if e["errors"] else ""
            print(f"    enrichment: {e['entities']} users and devices, {e['cache_hits']} from the cache, the others "
                  f"looked up with {e['lookups']} requests in {e['batches']} $batch calls, {e['not_found']} not in "
                  f"the directory, {e['failed']} failed{errors}")


def missing_context(exports: ContainerClient, contents: ExportContents, stream: str, tenant: str,
                    streams: tuple[str, ...], directory: Directory) -> list[str]:
    """The entities of a context stream's kind that the exported source records name and the stream lacks (the
    simulator's directory leaves out about one object in 25, as deleted: those are reported as not found, so they
    are compared with what the run's summary saw)."""
    spec = STREAMS[stream]
    named: set[str] = set()
    for source in SOURCES[spec.context]:
        if source in streams:
            for record in read_export(exports, source, tenant).records:
                named.update(referenced(source, record).get(spec.context, ()))
    exported = {str(record.get(spec.id_field, "")).lower() for record in contents.records}
    known = {"user": directory.users, "device": directory.devices, "servicePrincipal": directory.by_app_id}
    return sorted(key for key in named if key not in exported and key in known[spec.context])


def progress_printer() -> Callable[[RunSummary], None]:
    last = {"at": 0.0}

    def show(summary: RunSummary) -> None:
        now = time.monotonic()
        if now - last["at"] >= 1.0:  # at most once a second: long runs show progress, short ones stay quiet
            last["at"] = now
            print(f"  ... {summary.stream}: {summary.items} items, {summary.pages} pages", flush=True)

    return show


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR, format="%(levelname)s %(message)s")
    streams = tuple(s.strip() for s in args.streams.split(",") if s.strip())
    config = SimConfig(seed=args.seed, tenants=args.tenants, alerts=args.alerts, throttle=not args.no_throttle,
                       profile=args.profile)
    started = time.monotonic()
    print(f"Starting the local stack: Graph simulator ({args.profile} paging, {args.alerts} alerts per tenant, "
          f"{args.tenants} tenant(s), "
          f"throttling {'off' if args.no_throttle else 'at Graph limits'}) and Azurite ...", flush=True)
    with LocalStack(config) as stack:
        assert stack.sim is not None
        settings = stack.settings(
            EXPORT_STREAMS=",".join(streams),
            EXPORT_INITIAL_LOOKBACK_DAYS=int(config.history_days) + 1,
            EXPORT_FORMATS=args.formats,
            EXPORT_ENRICH=str(args.enrich).lower(),
        )
        ocsf = "ocsf" in settings.export_formats
        print(f"  simulator {stack.sim.base_url}   Azurite blob port {stack.azurite.blob_port}")  # type: ignore[union-attr]
        engine = ExportEngine(settings)

        print("\nFirst run (every stream, from the initial lookback):", flush=True)
        first = engine.run_all(progress=progress_printer())
        print_table(first, args.tenants, ocsf)

        summaries = list(first)
        if "alerts" in streams:
            tenant = stack.sim.tenants[0]
            stack.sim.add_alerts(tenant, 25, same_timestamp=True)
            stack.sim.update_alerts(tenant, count=25)
            print("\nThe simulator added 25 alerts sharing one timestamp and updated 25 others (and so their "
                  "incidents). Incremental run of every stream:")
            second = engine.run_all(progress=progress_printer())
            print_table(second, args.tenants, ocsf)
            summaries += second

        print("\nChecking the blobs against the simulator (every latest version present, none twice):")
        exports = engine.exports
        problems = 0
        for tenant in stack.sim.tenants:
            for stream in streams:
                contents = read_export(exports, stream, tenant)
                dupes = contents.duplicates
                missing = missing_latest(contents, stack.sim.items(tenant, stream), stream) \
                    if stream in GRAPH_STREAMS else missing_context(exports, contents, stream, tenant, streams,
                                                    directory_of(stack.sim._tenant(tenant)))
                problems += len(dupes) + len(missing)
                verdict = "ok" if not dupes and not missing else f"{len(dupes)} duplicated, {len(missing)} missing"
                label = stream if args.tenants == 1 else f"{stream} ({tenant[:8]})"
                print(f"  {label:<31} {len(contents.records):>7} records in {contents.blobs:>3} blobs: {verdict}")
                if args.enrich and stream == "alerts":
                    bare = sum("bridgeContext" not in record for record in contents.records)
                    problems += bare
                    print(f"    {len(contents.records) - bare} alerts carry bridgeContext"
                          + (f", {bare} do not" if bare else " (all of them)"))
                if ocsf and stream in MAPPINGS:
                    rendered, wrong = ocsf_problems(exports, stream, tenant, contents)
                    problems += len(wrong)
                    verdict = "ok (every event valid OCSF " + settings.ocsf_version + ", one per version)" \
                        if not wrong else f"{len(wrong)} problem(s), first: {wrong[0]}"
                    print(f"  {'  ocsf/' + label:<31} {len(rendered.events):>7} events  in {rendered.blobs:>3} blobs: "
                          f"{verdict}")

    failed = [s for s in summaries if s.status == "failed"]
    total_items = sum(s.items for s in summaries)
    total_bytes = sum(s.bytes for s in summaries)
    total_ocsf = sum(s.ocsf.get("bytes", 0) for s in summaries)
    ocsf_note = f" (+ {human_bytes(total_ocsf)} of OCSF)" if total_ocsf else ""
    print(f"\nDone in {time.monotonic() - started:.1f} s: {total_items} versions exported, "
          f"{human_bytes(total_bytes)} of gzip NDJSON{ocsf_note}, {len(failed)} failed stream(s), "
          f"{problems} contract violation(s). Simulator and Azurite stopped.")
    return 1 if failed or problems else 0


if __name__ == "__main__":
    sys.exit(main())
