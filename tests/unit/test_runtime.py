"""The process runtime: settings from a mapping (never the environment edited), one reset for every process cache."""

import os

import pytest

from shared import runtime
from shared.process_cache import ProcessCache, clear_all, register
from shared.settings import SettingsError

TENANT = "11111111-1111-4111-8111-111111111111"
APP = {"GRAPH_TENANT_IDS": TENANT, "BRIDGE_STORAGE": "UseDevelopmentStorage=true"}


def test_running_installs_settings_from_a_mapping_and_puts_the_previous_runtime_back():
    before = runtime.current()
    with runtime.running({**APP, "EXPORT_STREAMS": "alerts"}) as inside:
        assert runtime.current() is inside
        assert runtime.get_settings().export_streams == ("alerts",)
        assert os.environ.get("EXPORT_STREAMS") != "alerts"  # the process environment is untouched
    assert runtime.current() is before


def test_a_bad_configuration_is_reported_on_use_every_time_not_at_install():
    with runtime.running({"BRIDGE_STORAGE": "x"}) as bad:
        for _ in range(2):
            with pytest.raises(SettingsError, match="GRAPH_TENANT_IDS is missing"):
                _ = bad.settings


class Expiring:
    def __init__(self) -> None:
        self.cleared = 0

    def clear(self) -> None:
        self.cleared += 1


def test_installing_a_runtime_empties_every_process_cache():
    cache: ProcessCache[str, int] = ProcessCache("test cache")
    cache.put("a", 1)
    other = register(Expiring())
    with runtime.running(APP):
        assert "a" not in cache and other.cleared == 1
        cache.put("b", 2)
    assert len(cache) == 0 and other.cleared == 2
    cache.put("c", 3)
    clear_all()
    assert len(cache) == 0


def test_a_cache_makes_one_value_per_key_and_replaces_only_what_it_was_shown():
    cache: ProcessCache[str, object] = ProcessCache("test cache")
    first = cache.get_or_create("k", object)
    assert cache.get_or_create("k", object) is first
    fresh = cache.replace_unless_changed("k", first, object)
    assert fresh is not first
    assert cache.replace_unless_changed("k", first, object) is fresh  # someone renewed it already
    assert cache.update("n", lambda current: (current or 0) + 1) == 1
