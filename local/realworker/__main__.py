"""`python -m local.realworker < scenario.json`: load the app in the real worker, run the scenario, print JSON.

The scenario: {"app_dir": ".", "env": {...app settings...}, "steps": [step, ...]} where a step is
{"kind": "http", "function": name, "method": "GET", "path": "export/status", "body": text, "headers": {...},
 "query": {...}, "params": {...}} or {"kind": "timer", "function": name} or
{"kind": "queue", "function": name, "body": text, "dequeue_count": 1}.

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

from local.realworker.driver import RealWorker, WorkerRefused


async def run(scenario: dict[str, Any]) -> dict[str, Any]:
    worker = RealWorker(Path(scenario.get("app_dir", ".")), scenario.get("env", {}))
    answer: dict[str, Any] = {"runtime": version("azure-functions-runtime"), "python": platform.python_version(),
                              "azure_functions": version("azure-functions"), "functions": [], "outcomes": [],
                              "user_logs": [], "refused": None}
    try:
        await worker.start()
        answer["functions"] = worker.report()
        for step in scenario.get("steps", []):
            kind, name = step["kind"], step["function"]
            if kind == "http":
                outcome = await worker.http(name, step.get("method", "GET"), step["path"],
                                            body=step.get("body", "").encode(), headers=step.get("headers"),
                                            query=step.get("query"), params=step.get("params"))
            elif kind == "timer":
                outcome = await worker.timer(name, past_due=step.get("past_due", False))
            elif kind == "queue":
                outcome = await worker.queue(name, step["body"], dequeue_count=step.get("dequeue_count", 1))
            else:
                raise ValueError(f"unknown step kind {kind!r}")
            answer["outcomes"].append(outcome.as_dict())
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
