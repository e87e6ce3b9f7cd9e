import json
from pathlib import Path

from local.settings_doc import table_rows
from shared.settings import SETTINGS

REPO = Path(__file__).resolve().parents[2]


def test_readme_configuration_table_is_the_settings_table():
    readme = (REPO / "README.md").read_text()
    start = readme.index("<!-- settings-table:start -->")
    end = readme.index("<!-- settings-table:end -->")
    assert readme[start:end].strip().splitlines()[1:] == table_rows()


def test_readme_quickstart_has_the_two_commands():
    readme = (REPO / "README.md").read_text()
    quickstart = readme[readme.index("## Quickstart"):readme.index("## How the export works")]
    assert "./dev export" in quickstart and "./dev test" in quickstart
    assert (REPO / ".ci" / "run").read_text().strip().endswith("./dev test")


def test_local_settings_example_lists_every_setting():
    values = json.loads((REPO / "local.settings.example.json").read_text())["Values"]
    assert {s.name for s in SETTINGS} <= set(values)
