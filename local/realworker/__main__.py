"""`python -m local.realworker < scenario.json`: load the app in the real worker, run the scenario, print JSON.

The scenario: {"app_dir": ".", "env": {...app settings...}, "steps": [step, ...]} where a step is
{"kind": "http", "function": name, "method": "GET", "path": "export/status", "body": text, "headers": {...},
 "query": {...}, "params": {...}} or {"kind": "timer", "function": name} or
{"kind": "queue", "function": name, "body": text, "dequeue_count": 1}. With "concurrent": true every step starts at
once (each after its own "after" seconds), as a host with several requests in flight sends them; outcomes keep the
order of the steps.

The answer on stdout: {"runtime", "python", "azure_functions", "functions": [...], "outcomes": [...],
"user_logs": [...], "refused": null or the runtime's failure text}. Exit status 0, or 3 when the worker refused
the app (the host would then load none of its functions).
"""

from __future__ import annotations

import asyncio
import json
import logging
import platform
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

from local.realworker.driver import Outcome, RealWorker, WorkerRefused


async def run_step(worker: RealWorker, step: dict[str, Any]) -> Outcome:
    await asyncio.sleep(step.get("after", 0))
    kind, name = step["kind"], step["function"]
    if kind == "http":
        return await worker.http(name, step.get("method", "GET"), step["path"], body=step.get("body", "").encode(),
                                 headers=step.get("headers"), query=step.get("query"), params=step.get("params"))
    if kind == "timer":
        return await worker.timer(name, past_due=step.get("past_due", False))
    if kind == "queue":
        return await worker.queue(name, step["body"], dequeue_count=step.get("dequeue_count", 1))
    raise ValueError(f"unknown step kind {kind!r}")


async def run(scenario: dict[str, Any]) -> dict[str, Any]:
    worker = RealWorker(Path(scenario.get("app_dir", ".")), scenario.get("env", {}))
    answer: dict[str, Any] = {"runtime": version("azure-functions-runtime"), "python": platform.python_version(),
                              "azure_functions": version("azure-functions"), "functions": [], "outcomes": [],
                              "user_logs": [], "refused": None}
    try:
        await worker.start()
        answer["functions"] = worker.report()
        answer["thread_pool_size"] = worker.thread_pool_size()
        steps = scenario.get("steps", [])
        if scenario.get("concurrent"):
            outcomes = await asyncio.gather(*(run_step(worker, step) for step in steps))
        else:
            outcomes = [await run_step(worker, step) for step in steps]
        answer["outcomes"] = [outcome.as_dict() for outcome in outcomes]
    except WorkerRefused as exc:
        answer["refused"] = str(exc)
    finally:
        worker.stop()
    answer["user_logs"] = [{"logger": r.name, "level": r.levelname, "message": r.getMessage()[:500]}
                           for r in worker.logs.user_records()]
    return answer


def main() -> int:
    scenario = json.load(sys.stdin)
    answer = asyncio.run(run(scenario))
    logging.shutdown()
    sys.stdout.write(json.dumps(answer, default=str) + "\n")
    return 3 if answer["refused"] else 0


if __name__ == "__main__":
    sys.exit(main())
