"""The README and docs/ stay true: the generated settings table, the two commands, every link, the README's size."""

import json
import re
from pathlib import Path

from local.settings_doc import table_rows
from shared.settings import SETTINGS

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DOCS = sorted((REPO / "docs").glob("*.md"))
README_LIMIT_BYTES = 12 * 1024  # a user looking for the quickstart reads a few screens, not a manual


def test_configuration_table_is_the_settings_table():
    doc = (REPO / "docs" / "configuration.md").read_text()
    start = doc.index("<!-- settings-table:start -->")
    end = doc.index("<!-- settings-table:end -->")
    assert doc[start:end].strip().splitlines()[1:] == table_rows()


def test_readme_quickstart_has_the_two_commands():
    readme = README.read_text()
    quickstart = readme[readme.index("## Quickstart"):readme.index("\n## ", readme.index("## Quickstart") + 3)]
    assert "./dev export" in quickstart and "./dev test" in quickstart
    assert (REPO / ".ci" / "run").read_text().strip().endswith("./dev test")


def test_readme_fits_on_a_few_screens():
    assert len(README.read_bytes()) < README_LIMIT_BYTES


def test_local_settings_example_lists_every_setting():
    values = json.loads((REPO / "local.settings.example.json").read_text())["Values"]
    assert {s.name for s in SETTINGS} <= set(values)


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    anchors = set()
    in_code = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and re.match(r"#{1,6} ", line):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def broken_links(files: list[Path], root: Path = REPO) -> list[str]:
    broken = []
    for path in files:
        text = path.read_text()
        for target in re.findall(r"\]\(([^)\s]+)\)", re.sub(r"```.*?```", "", text, flags=re.S)):
            if re.match(r"[a-z]+:", target):
                continue  # a web address: not checked offline
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            if not linked.exists():
                broken.append(f"{path.relative_to(root)}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked.read_text()):
                broken.append(f"{path.relative_to(root)}: {target} (no such heading)")
    return broken


def test_every_doc_link_resolves():
    pages = [README, *DOCS, REPO / "local" / "README.md", REPO / "local" / "graphsim" / "README.md"]
    assert broken_links(pages) == []


def test_the_link_check_sees_a_broken_link(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[ok](#title) [gone](missing.md) [bad anchor](#nowhere)\n")
    assert broken_links([page], tmp_path) == ["page.md: missing.md (no such file)",
                                              "page.md: #nowhere (no such heading)"]
