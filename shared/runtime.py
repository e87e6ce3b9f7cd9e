"""The app as one process runs it: its app settings, read and checked once, and the process caches built from them.

In Azure the app settings are the process environment and nothing ever changes them, so `current()` builds the
runtime from `os.environ` on first use (never at import: indexing the app must not fail on a bad setting) and keeps
it. The dev host and the tests run the app in their own process with other settings: they `install` a runtime made
from a mapping of app settings instead of editing the process environment, and `install` empties every process
cache (credentials, storage and Graph clients, pacing budgets, signing keys, looked-up context), so nothing built
for one configuration serves another.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from shared.process_cache import clear_all
from shared.settings import Settings, load_settings


class Runtime:
    """App settings (the raw mapping, and `settings` read from it once) for the functions of one process."""

    def __init__(self, app_settings: Mapping[str, str]) -> None:
        self.app_settings: Mapping[str, str] = dict(app_settings)
        self._settings: Settings | None = None
        self._lock = threading.Lock()

    @property
    def settings(self) -> Settings:
        """The checked settings; raises SettingsError (naming every bad setting) while the configuration is bad."""
        with self._lock:
            if self._settings is None:
                self._settings = load_settings(self.app_settings)
            return self._settings

    def platform_setting(self, name: str) -> str:
        """A setting the platform sets for the app (e.g. WEBSITE_AUTH_ENABLED), not one of the app's own."""
        return self.app_settings.get(name, "")


_current: Runtime | None = None
_current_lock = threading.Lock()


def current() -> Runtime:
    """The process's runtime: the installed one, else one read from the process environment."""
    global _current
    with _current_lock:
        if _current is None:
            _current = Runtime(os.environ)
        return _current


def get_settings() -> Settings:
    """The settings of the process's runtime (what every function reads)."""
    return current().settings


def install(runtime: Runtime | None) -> Runtime | None:
    """Make `runtime` the process's (None: read the environment again on next use); every process cache is emptied.
    Returns the runtime it replaces."""
    global _current
    with _current_lock:
        previous, _current = _current, runtime
    clear_all()
    return previous


@contextmanager
def running(app_settings: Mapping[str, str]) -> Iterator[Runtime]:
    """Run the app with these app settings for the duration of the block, then put the previous runtime back."""
    runtime = Runtime(app_settings)
    previous = install(runtime)
    try:
        yield runtime
    finally:
        install(previous)
