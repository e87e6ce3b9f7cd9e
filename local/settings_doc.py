"""Print the README's configuration table from the settings table (`python -m local.settings_doc`), so the two
cannot drift: tests/unit/test_readme.py checks that the README holds exactly these rows."""

from __future__ import annotations

from shared.settings import SETTINGS

GROUP_TITLES = {
    "graph": "Microsoft Graph and authentication",
    "storage": "Storage",
    "export": "Export",
    "actions": "Actions",
    "webhooks": "Change notifications",
}


def table_rows() -> list[str]:
    rows = ["| setting | default | meaning |", "|---|---|---|"]
    for setting in SETTINGS:
        default = "(required)" if setting.required else (f"`{setting.default}`" if setting.default else "(empty)")
        meaning = setting.help.replace("|", "\\|")
        if setting.secret:
            meaning += " Secret: never logged."
        rows.append(f"| `{setting.name}` | {default} | {meaning} |")
    return rows


if __name__ == "__main__":
    print("\n".join(table_rows()))
