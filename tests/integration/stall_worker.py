"""One real export run in a process of its own that stops itself with SIGSTOP at a chosen step, as a frozen VM or a
long pause would stop it, for the stall test in test_export_stall.py. It resumes when the test sends SIGCONT, and
prints its run summary as JSON on its last line.

Usage: python -m tests.integration.stall_worker SETTINGS_JSON STREAM TENANT STEP PAGE NOW_ISO LEASE_SECONDS
"""

from __future__ import annotations

import json
import os
import signal
import sys
from datetime import datetime

from shared.export.engine import ExportEngine, RunSummary, StepHook
from shared.settings import load_settings


class StopAt(StepHook):
    def __init__(self, step: str, page: int) -> None:
        self.step, self.page = step, page

    def __call__(self, step: str, summary: RunSummary) -> None:
        if step == self.step and summary.pages == self.page:
            os.kill(os.getpid(), signal.SIGSTOP)


def main(argv: list[str]) -> int:
    env_json, stream, tenant, step, page, now_iso, lease_seconds = argv
    moment = datetime.fromisoformat(now_iso)
    engine = ExportEngine(load_settings(json.loads(env_json)), hook=StopAt(step, int(page)), now=lambda: moment,
                          lease_seconds=int(lease_seconds))
    summary = engine.run(stream, tenant)
    print(json.dumps(summary.as_dict()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
