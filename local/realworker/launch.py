"""Run a scenario in the real worker from the project's own Python: a fresh process of the worker's environment.

The worker (azure-functions-runtime) needs Python 3.13+, while the tests and the local stack run on the project's
Python (3.11+), so each scenario runs in a child process of `.venv-worker/bin/python` (set up by `./dev`).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
WORKER_PYTHON = REPO / ".venv-worker" / "bin" / "python"


class WorkerEnvironmentMissing(RuntimeError):
    """No .venv-worker: nothing can prove that Azure's worker loads the app."""


def worker_python() -> Path:
    if not WORKER_PYTHON.exists():
        raise WorkerEnvironmentMissing(
            f"{WORKER_PYTHON} is missing: the real worker needs Python 3.13 and the environment `./dev test` "
            "creates from it (set WORKER_PYTHON to a Python 3.13 if none was found).")
    return WORKER_PYTHON


def run_in_worker(scenario: dict[str, Any], app_dir: Path = REPO, *, timeout: float = 240.0) -> dict[str, Any]:
    """The worker's JSON answer to `scenario` (see local/realworker/__main__.py for both formats)."""
    # The child is another interpreter: none of this one's Python or pytest variables apply to it.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "PYTEST"))}
    done = subprocess.run([str(worker_python()), "-m", "local.realworker"], cwd=REPO, env=env,
                          input=json.dumps({"app_dir": str(app_dir), **scenario}), capture_output=True, text=True,
                          timeout=timeout)
    lines = done.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"the worker driver printed nothing (exit {done.returncode}):\n{done.stderr[-4000:]}")
    answer: dict[str, Any] = json.loads(lines[-1])
    return answer
