"""Log levels for the libraries the app calls, set by the app itself.

In Azure the Python worker sets the root logger to INFO and forwards every record at INFO and above to the host and
on to Application Insights (azure-functions-python-worker, dispatcher.py). host.json's `logging.logLevel` filters
only the host's own .NET categories (its `Azure.Core` entry does not touch Python's `azure.core` logger). Left alone,
azure-core's HttpLoggingPolicy would send one line with the request headers and one with the response headers for
every storage call, and MSAL a line per token request: cost and noise in Application Insights, and the app's own
lines drowned. So the app keeps those libraries at WARNING, where their failures still show.
"""

from __future__ import annotations

import logging

APP_LOGGER = "graph_security_bridge"  # every logger of the app is below this name

# Libraries whose INFO lines are per request. Not all of `azure`: `azure.functions` is the worker's own system
# category, which the host routes separately.
QUIET_LIBRARIES = ("azure.core", "azure.identity", "azure.storage", "msal", "urllib3")


def quiet_library_loggers() -> None:
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
