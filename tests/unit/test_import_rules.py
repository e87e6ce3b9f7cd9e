"""The layering of the code, checked on every import statement (function-level imports included).

- shared/ is the library: it never imports the local stack, the tests, the benchmarks or the functions;
- functions/ are thin triggers over shared/: they never import the local stack or the tests;
- the platform (shared/graph: client, retries, pacing, credentials; shared/storage: clients, leases, JSON state
  blobs) imports no job package (export, actions, webhooks, context, ocsf), so a job can be added or changed without
  touching it;
- importing function_app (what the worker does at start, and on every cold start) loads no Graph or storage client
  library: those load on first use, so the webhook's validation answer stays fast.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted((REPO / package).rglob("*.py")):
        for name in imported_modules(path):
            if name.split(".")[0] in forbidden:
                found.append(f"{path.relative_to(REPO)} imports {name}")
    return found


@pytest.mark.parametrize(("package", "forbidden"), [
    ("shared", ("local", "tests", "bench", "functions", "function_app")),
    ("functions", ("local", "tests", "bench")),
])
def test_lower_layers_never_import_upper_ones(package, forbidden):
    assert violations(package, forbidden) == []


# The platform: talking to Graph and to Storage, and the small helpers every job uses.
PLATFORM = ("shared/graph", "shared/storage", "shared/redact.py", "shared/problems.py", "shared/app_logging.py")
# The jobs: what the product does with the platform.
JOB_PACKAGES = ("shared.export", "shared.actions", "shared.webhooks", "shared.context", "shared.ocsf")


def platform_files() -> list[Path]:
    files: list[Path] = []
    for entry in PLATFORM:
        path = REPO / entry
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return files


@pytest.mark.parametrize("path", platform_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_platform_layers_import_no_job_package(path):
    imported = imported_modules(path)
    jobs = [n for n in imported if any(n == job or n.startswith(f"{job}.") for job in JOB_PACKAGES)]
    assert jobs == []


def test_every_job_package_exists():
    # A renamed package would make the rule above vacuous.
    for package in JOB_PACKAGES:
        assert (REPO / package.replace(".", "/") / "__init__.py").is_file(), package


def test_the_rule_sees_a_violation(tmp_path, monkeypatch):
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "bad.py").write_text("def f():\n    from local.devhost import DevHost\n")
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    assert violations("shared", ("local",)) == ["shared/bad.py imports local.devhost"]


def test_importing_the_app_loads_no_client_library():
    probe = ("import sys, function_app; "
             "print(sorted(m for m in ('requests', 'azure.identity', 'azure.storage.blob', 'azure.storage.queue', "
             "'msal') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]", loaded.stdout
