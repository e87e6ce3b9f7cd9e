"""Print the mapping tables of docs/ocsf.md from the code's tables (`python -m local.ocsf_doc`), so the two cannot
drift: tests/unit/test_ocsf_doc.py checks that the document holds exactly these lines."""

from __future__ import annotations

from shared.ocsf import enums
from shared.ocsf.render import MAPPINGS

CLASS_TITLES = {2004: "Detection Finding", 2005: "Incident Finding", 5003: "User Inventory Info"}


def mapping_lines() -> list[str]:
    lines: list[str] = []
    for mapping in MAPPINGS.values():
        profiles = f", profiles: {', '.join(mapping.profiles)}" if mapping.profiles else ""
        lines += [f"### `{mapping.stream}` -> {CLASS_TITLES[mapping.class_uid]} ({mapping.class_uid}{profiles})", "",
                  "| OCSF attribute | from Graph |", "|---|---|"]
        lines += [f"| `{row.target}` | {row.source.replace('|', '/')} |" for row in mapping.table]
        lines.append("")
    lines += ["### Enumerations", "", "| Graph enumeration -> OCSF | members |", "|---|---|"]
    for enum in enums.ALL:
        members = ", ".join(f"`{member}` {ocsf_id}" for member, ocsf_id in enum.ids.items())
        lines.append(f"| {enum.name} | {members}; missing, `unknown`, `unknownFutureValue`: {enum.unknown}; "
                     f"any other value: 99 (Other) |")
    return lines


if __name__ == "__main__":
    print("\n".join(mapping_lines()))
