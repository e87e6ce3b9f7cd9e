"""Check that the installed Python packages are exactly the locked ones.

`./dev` installs from the hashed lock, but a virtual environment outlives the lock that built it: someone runs
`pip install` by hand, or the lock changes under an old .venv whose stamp was copied. This check compares every
package the lock names for this interpreter with what is installed, offline, and fails naming the differences.

Usage: python -m local.check_lock requirements-dev.txt
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

# A requirement line of a uv/pip-compile lock: "name==version" and optional "; marker", then hashes.
_PINNED = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)\s*(?:;(?P<marker>[^\\]*))?")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions(lock_text: str) -> dict[str, str]:
    """The version the lock pins for each package whose marker holds on this interpreter."""
    from packaging.markers import Marker  # a dependency of pip's own tools in every locked dev set

    pins: dict[str, str] = {}
    for line in lock_text.splitlines():
        match = _PINNED.match(line)
        if not match:
            continue
        marker = (match["marker"] or "").strip()
        if marker and not Marker(marker).evaluate():
            continue
        pins[_normalize(match["name"])] = match["version"]
    return pins


def differences(pins: dict[str, str]) -> list[str]:
    problems = []
    for name, version in sorted(pins.items()):
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            problems.append(f"{name}: locked {version}, not installed")
            continue
        if installed != version:
            problems.append(f"{name}: locked {version}, installed {installed}")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    pins = locked_versions(Path(argv[0]).read_text(encoding="utf-8"))
    if not pins:
        print(f"{argv[0]} names no pinned package: is it a lock file?", file=sys.stderr)
        return 1
    problems = differences(pins)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print("The environment differs from the lock: remove .venv and run ./dev test again.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
