"""Print the configuration table of docs/configuration.md from the settings (`python -m local.settings_doc`), so the
two cannot drift: tests/unit/test_readme.py checks that the page holds exactly these rows."""

from __future__ import annotations

from shared.settings import SETTINGS


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
