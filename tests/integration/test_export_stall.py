"""A stalled exporter must be harmless: a run frozen (SIGSTOP) past its lease while another run takes over, with
Graph changing and an hour boundary crossed, then woken, writes nothing the export keeps twice, loses nothing, and
says that it lost its lease. Real processes, real Azurite, the simulator over loopback (docs/exactly-once.md)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from local.export_check import missing_latest, read_export
from shared.export.engine import ExportEngine
from shared.settings import load_settings
from tests.integration.test_export import settle

# The shortest lease Blob Storage grants: the stall only has to outlast it.
LEASE_SECONDS = 15
REPOSITORY = Path(__file__).resolve().parents[2]


def wait_until_stopped(process: subprocess.Popen, timeout: float = 60.0) -> None:
    """Until the kernel reports the process stopped (state T in /proc/PID/stat)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the worker ended before it stopped: {process.communicate()}"
        state = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state == "T":
            return
        time.sleep(0.05)
    raise AssertionError("the worker did not reach its stall point")


@pytest.mark.parametrize("step", ["before_blob_write", "after_blob_write", "after_fetch"])
def test_a_run_stalled_past_its_lease_is_fenced_off(make_sim, product_env, step):
    sim = make_sim(alerts=3000, seed=21)
    tenant = sim.tenants[0]
    env = product_env(sim, EXPORT_INITIAL_LOOKBACK_DAYS=30)
    settings = load_settings(env)
    this_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    stale_now = this_hour - timedelta(seconds=1)  # the stalled run writes into the previous hour's folder

    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.stall_worker", json.dumps(env), "alerts", tenant, step, "2",
         stale_now.isoformat(), str(LEASE_SECONDS)],
        cwd=REPOSITORY, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(),
    )
    try:
        wait_until_stopped(worker)
        # The world moves on while the worker is frozen, and its lease runs out.
        sim.update_alerts(tenant, count=80)
        sim.add_alerts(tenant, 25, same_timestamp=True)
        time.sleep(LEASE_SECONDS + 2)
        taker = ExportEngine(settings, lease_seconds=LEASE_SECONDS)  # now: this hour, a new folder
        runs = settle(taker, "alerts", tenant)
        assert runs[0].status in ("ok", "partial"), runs[0].error  # it got the lease: the stalled run's ran out
        sim.update_alerts(tenant, count=40)
    finally:
        worker.send_signal(signal.SIGCONT)
    out, err = worker.communicate(timeout=120)
    assert worker.returncode == 0, err
    stale = json.loads(out.strip().splitlines()[-1])
    assert stale["status"] == "failed", stale
    assert "lost its lease" in stale["error"], stale

    settle(taker, "alerts", tenant)
    contents = read_export(taker.exports, "alerts", tenant)
    assert contents.duplicates == [], f"{len(contents.duplicates)} versions written twice"
    assert missing_latest(contents, sim.alerts(tenant), "alerts") == [], "a latest version is missing"
    folders = {props.name.split("/hour=")[0][-10:] + props.name.split("/hour=")[1][:2]
               for props in taker.exports.list_blobs(name_starts_with=f"alerts/tenant={tenant}/")}
    assert len(folders) == 2, f"the export should span the hour boundary: {sorted(folders)}"
