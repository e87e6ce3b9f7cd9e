"""The app in a dev host of its own process, for the crash test in test_export_jobs.py: the test kills it (SIGKILL)
while it works on a job, as a crash or the platform would stop a worker. It prints its base URL, then serves (HTTP
and the queue triggers) until it is killed.

Usage: python -m tests.integration.job_host ENV_JSON FUNCTION_KEY IN_FLIGHT_VISIBILITY_SECONDS
"""

from __future__ import annotations

import json
import sys
import threading

import function_app
from local.devhost import DevHost


def main(argv: list[str]) -> int:
    env_json, key, visibility = argv
    host = DevHost(function_app.app, json.loads(env_json), {"default": key},
                   in_flight_visibility=int(visibility)).start()
    print(host.base_url, flush=True)
    threading.Event().wait()  # until killed
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
