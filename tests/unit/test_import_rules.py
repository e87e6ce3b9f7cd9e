"""The layering of the code, checked on every import statement (function-level imports included).

- shared/ is the library: it never imports the local stack, the tests, the benchmarks or the functions;
- functions/ are thin triggers over shared/: they never import the local stack or the tests;
- the platform layers (the Graph client, its pacing and credentials, storage clients) import no job module, so a
  job can be added or changed without touching them;
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


PLATFORM_MODULES = ("graph_client", "rate_budget", "credentials", "clouds", "redact", "storage", "versions",
                    "problems", "app_logging")
JOB_MODULES = ("shared.export_engine", "shared.export_requests", "shared.paging", "shared.query_options",
               "shared.fanout", "shared.tenant_status", "shared.enrichment", "shared.ocsf", "shared.actions",
               "shared.webhooks", "shared.blob_sink", "shared.checkpoints", "shared.leases")


@pytest.mark.parametrize("module", PLATFORM_MODULES)
def test_platform_layers_import_no_job_module(module):
    imported = imported_modules(REPO / "shared" / f"{module}.py")
    assert sorted(n for n in imported if n.startswith(JOB_MODULES)) == []


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
