"""`python -m bench NAME [args]`: run bench/NAME.py's main(); without a name, list the benchmarks."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def available() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if not m.name.startswith("_"))


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in available():
        print("usage: ./dev bench NAME [options]\nbenchmarks: " + ", ".join(available()))
        return 2
    module = importlib.import_module(f"bench.{sys.argv[1]}")
    return int(module.main(sys.argv[2:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
