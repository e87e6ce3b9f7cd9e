"""Acceptance tests of the infrastructure (infra/, azure.yaml, scripts/grant-graph-permissions.sh).

No Bicep compiler can run here, so the Bicep is checked three ways:
- syntax: every .bicep file parses with tree-sitter-bicep;
- policy: checkov's Bicep scan finds no misconfiguration (inline skips carry a one-line reason);
- contract: the app settings the function app module sets match what the code reads (shared.settings.SETTINGS).

tree-sitter-bicep 1.1.0 and checkov's parser do not know the `extension` statement that the Microsoft Graph Bicep
extension needs; both see a copy of the file in which that one statement, and nothing else, is blanked.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tree_sitter_bicep
from tree_sitter import Language, Node, Parser

from shared.settings import SETTINGS, SETTINGS_BY_NAME, STORAGE_PREFIX

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
FUNCTION_APP_MODULE = INFRA / "modules" / "functionapp.bicep"
GRAPH_MODULE = INFRA / "modules" / "graph-permissions.bicep"
GRANT_SCRIPT = ROOT / "scripts" / "grant-graph-permissions.sh"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))

# The only statement the parsers may not see, alone on its line.
GRAPH_EXTENSION_RE = re.compile(r"^[ \t]*extension[ \t]+microsoftGraphV1[ \t]*$", re.MULTILINE)

# Settings the Bicep sets for the Functions host and the platform, not for the app code.
PLATFORM_SETTINGS = {
    # Identity-based host storage (timer locks, host keys): read by the Functions host.
    "AzureWebJobsStorage__blobServiceUri",
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    # Telemetry with Entra ID authentication: read by the host's Application Insights integration.
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
}

# Settings of shared/settings.py that the Bicep leaves unset because their default is right in Azure.
OPTIONAL_IN_AZURE = {
    "GRAPH_CLIENT_SECRET": "set (as a Key Vault reference) only for authMode appRegistration with a client secret",
    "GRAPH_CLIENT_CERTIFICATE": "set (as a Key Vault reference) only for authMode appRegistration with a certificate",
    "GRAPH_CLIENT_CERTIFICATE_PATH": "a path for hosts with a mounted certificate; Azure uses GRAPH_CLIENT_CERTIFICATE",
    "GRAPH_FEDERATED_TOKEN_FILE": "workload_identity mode (AKS); the function app uses its managed identity",
    "GRAPH_ENDPOINT": "derived from GRAPH_CLOUD",
    "GRAPH_AUTHORITY_HOST": "derived from GRAPH_CLOUD",
    "GRAPH_DISABLE_INSTANCE_DISCOVERY": "only for a private or local authority; Azure uses the public ones",
    "GRAPH_TIMEOUT_SECONDS": "tuning knob; the default suits Azure",
    "GRAPH_MAX_ATTEMPTS": "tuning knob; the default suits Azure",
    "GRAPH_MAX_RETRY_WAIT_SECONDS": "tuning knob; the default suits Azure",
    "GRAPH_SECURITY_REQUESTS_PER_MINUTE": "defaults to Graph's documented limit",
    "GRAPH_IDENTITY_REQUESTS_PER_SECOND": "defaults to Graph's documented limit",
    "EXPORT_STREAMS": "set only when the exportStreams parameter is given; the default exports every stream",
    "EXPORT_OVERLAP_MINUTES": "tuning knob; the default suits Azure",
    "EXPORT_INITIAL_LOOKBACK_DAYS": "tuning knob; the default suits Azure",
    "EXPORT_TIME_BUDGET_SECONDS": "the default stays under Flex Consumption's function timeout",
    "EXPORT_INCIDENTS_EXPAND_ALERTS": "off by default on purpose ($expand=alerts fails on large tenants)",
    "EXPORT_GZIP_LEVEL": "tuning knob; the default suits Azure",
    "EXPORT_FORMATS": "an app setting to turn the ocsf output on; the default writes the graph output only",
    "EXPORT_ENRICH": "off by default: it needs User.Read.All and Device.Read.All, which the Bicep does not grant yet",
    "EXPORT_OCSF_VERSION": "read only with EXPORT_FORMATS=graph,ocsf; the default is the newest supported version",
    "ACTIONS_MAX_BULK_IDS": "tuning knob; the default suits Azure",
    "ACTIONS_BULK_TIME_BUDGET_SECONDS": "tuning knob; the default suits a Consumption Logic App caller",
    "WEBHOOK_FUNCTION_KEY": "set (as a Key Vault reference) only when webhooks are enabled",
}

# Settings that must never be set in Azure.
LOCAL_ONLY = {
    STORAGE_PREFIX: "a connection string for Azurite; Azure uses the identity-based BRIDGE_STORAGE__* settings",
}

# The host resolves %NAME% in the timer schedules when it indexes the functions: these must always be set.
HOST_REFERENCED = {"EXPORT_SCHEDULE", "SUBSCRIPTION_UPKEEP_SCHEDULE"}

SECURE_NAME_RE = re.compile(r"(Secret|Password|Seed|FunctionKey)$")

_PARSER = Parser(Language(tree_sitter_bicep.language()))


def blank_graph_extension(text: str) -> str:
    """The file with `extension microsoftGraphV1` replaced by an empty line (line numbers stay the same)."""
    return GRAPH_EXTENSION_RE.sub("", text)


def parse(path: Path) -> Node:
    return _PARSER.parse(blank_graph_extension(path.read_text(encoding="utf-8")).encode()).root_node


def text(node: Node) -> str:
    return node.text.decode() if node.text is not None else ""


def string_value(node: Node) -> str | None:
    """The content of a plain string literal, None for anything else (interpolated strings included)."""
    if node.type != "string":
        return None
    contents = [c for c in node.children if c.type == "string_content"]
    if len(contents) != len([c for c in node.children if c.type not in ("'", '"')]):
        return None
    return "".join(text(c) for c in contents)


def property_key(prop: Node) -> str:
    key = prop.children[0]
    return string_value(key) or "" if key.type == "string" else text(key)


def walk(node: Node):
    yield node
    for child in node.children:
        yield from walk(child)


def error_lines(node: Node) -> list[str]:
    return [
        f"line {n.start_point[0] + 1}: {text(n)[:60]!r}"
        for n in walk(node)
        if n.type == "ERROR" or n.is_missing
    ]


def top_level_declarations(root: Node, kind: str) -> list[tuple[Node, list[str]]]:
    """(declaration, decorator names) for each top-level declaration of a kind, e.g. parameter_declaration."""
    found: list[tuple[Node, list[str]]] = []
    decorators: list[str] = []
    for child in root.children:
        if child.type == "decorators":
            decorators = [
                text(d.children[1].children[0])
                for d in child.children
                if d.type == "decorator" and len(d.children) > 1 and d.children[1].type == "call_expression"
            ]
            continue
        if child.type == kind:
            found.append((child, decorators))
        decorators = []
    return found


def declaration_name(declaration: Node) -> str:
    return next(text(c) for c in declaration.children if c.type == "identifier")


def settings_set_by_bicep() -> dict[str, list[str]]:
    """App setting name -> the Bicep expressions it is set to, from the *Settings variables of the module."""
    settings: dict[str, list[str]] = {}

    def collect(node: Node, inside_value: bool) -> None:
        if node.type == "object" and not inside_value:
            for prop in (c for c in node.children if c.type == "object_property"):
                value = prop.children[-1]
                settings.setdefault(property_key(prop), []).append(text(value))
                collect(value, True)
            return
        for child in node.children:
            collect(child, inside_value)

    root = parse(FUNCTION_APP_MODULE)
    for declaration, _ in top_level_declarations(root, "variable_declaration"):
        if declaration_name(declaration).endswith("Settings"):
            collect(declaration.children[-1], False)
    return settings


def string_array_variable(path: Path, name: str) -> list[str]:
    for declaration, _ in top_level_declarations(parse(path), "variable_declaration"):
        if declaration_name(declaration) == name:
            value = declaration.children[-1]
            assert value.type == "array", f"{name} in {path.name} is not an array literal"
            return [string_value(item) or text(item) for item in value.children if item.type not in ("[", "]")]
    raise AssertionError(f"no variable {name} in {path.name}")


# ---------------------------------------------------------------- syntax


def test_bicep_files_exist():
    names = {path.relative_to(INFRA).as_posix() for path in BICEP_FILES}
    assert "main.bicep" in names
    assert {f"modules/{m}.bicep" for m in ("identity", "storage", "monitoring", "keyvault", "functionapp", "rbac",
                                          "graph-permissions", "eventgrid", "logicapp")} <= names


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.relative_to(INFRA).as_posix())
def test_bicep_parses(path: Path):
    root = parse(path)
    assert not root.has_error, f"{path.name} does not parse: " + "; ".join(error_lines(root))


def test_only_the_graph_extension_statement_is_blanked():
    # The blanking must hide exactly one statement in exactly one file, so the syntax gate stays strict elsewhere.
    hits = {path.name: len(GRAPH_EXTENSION_RE.findall(path.read_text(encoding="utf-8"))) for path in BICEP_FILES}
    assert {name: n for name, n in hits.items() if n} == {GRAPH_MODULE.name: 1}
    assert (INFRA / "bicepconfig.json").is_file()
    config = json.loads((INFRA / "bicepconfig.json").read_text(encoding="utf-8"))
    types = config["extensions"]["microsoftGraphV1"]
    assert types.startswith("br:mcr.microsoft.com/bicep/extensions/microsoftgraph/v1.0:")


def test_syntax_gate_rejects_broken_bicep():
    broken = "resource x 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name: 'a'\n"
    assert _PARSER.parse(broken.encode()).root_node.has_error
    # ... and any other extension statement (only microsoftGraphV1 is blanked).
    assert _PARSER.parse(blank_graph_extension("extension kubernetes\n").encode()).root_node.has_error


# ---------------------------------------------------------------- policy (checkov)


def checkov_executable() -> str:
    beside_python = Path(sys.executable).parent / "checkov"
    if beside_python.is_file():
        return str(beside_python)
    on_path = shutil.which("checkov")
    if on_path:
        return on_path
    pytest.fail("checkov is not installed (pip install checkov): the policy scan of infra/ cannot run")


@pytest.fixture(scope="module")
def checkov_reports(tmp_path_factory) -> list[dict]:
    scan_dir = tmp_path_factory.mktemp("infra-scan") / "infra"
    shutil.copytree(INFRA, scan_dir)
    for path in scan_dir.rglob("*.bicep"):
        path.write_text(blank_graph_extension(path.read_text(encoding="utf-8")), encoding="utf-8")
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_NO_OUTPUT_COLOR": "1"}
    completed = subprocess.run(
        [checkov_executable(), "-d", str(scan_dir), "--framework", "bicep", "--skip-download", "-o", "json"],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )
    assert completed.stdout.strip(), (
        f"checkov printed nothing (exit {completed.returncode}): {completed.stderr[-2000:]}"
    )
    output = json.loads(completed.stdout)
    reports = output if isinstance(output, list) else [output]
    # With no check results at all, checkov prints the bare summary.
    return [r if "summary" in r else {"summary": r, "results": {}} for r in reports]


def test_checkov_scan_is_clean(checkov_reports):
    summaries = [r["summary"] for r in checkov_reports]
    assert sum(s["parsing_errors"] for s in summaries) == 0, summaries
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for r in checkov_reports
        for c in r["results"].get("failed_checks", [])
    ]
    assert not failed, "checkov failed checks:\n" + "\n".join(failed)
    assert sum(s["passed"] for s in summaries) > 0, "checkov evaluated nothing: is the scan reading the files?"


def test_checkov_skips_have_reasons(checkov_reports):
    for report in checkov_reports:
        for check in report["results"].get("skipped_checks", []):
            reason = check["check_result"].get("suppress_comment", "").strip()
            assert len(reason) >= 20 and reason != "No comment provided", f"{check['check_id']}: {reason!r}"


def test_inline_skips_are_one_line_with_a_reason():
    skip_re = re.compile(r"checkov:skip=([A-Z0-9_]+)(.*)$")
    for path in BICEP_FILES:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = skip_re.search(line)
            if match:
                assert line.lstrip().startswith("// checkov:skip="), f"{path.name}:{number}: not a line comment"
                assert re.fullmatch(r": \S.{19,}", match.group(2)), f"{path.name}:{number}: needs ': <reason>'"


# ---------------------------------------------------------------- contract with the code


def test_every_bicep_setting_is_read_by_the_code_or_the_host():
    unknown = set(settings_set_by_bicep()) - set(SETTINGS_BY_NAME) - PLATFORM_SETTINGS
    assert not unknown, f"the Bicep sets settings nothing reads: {sorted(unknown)}"


def test_every_code_setting_is_set_by_bicep_or_documented_optional():
    by_bicep = set(settings_set_by_bicep())
    missing = {s.name for s in SETTINGS} - by_bicep - set(OPTIONAL_IN_AZURE) - set(LOCAL_ONLY)
    assert not missing, (
        f"settings the code reads but the Bicep never sets: {sorted(missing)}; set them in "
        "infra/modules/functionapp.bicep or add them to OPTIONAL_IN_AZURE with the reason their default is right"
    )


def test_optional_list_is_current():
    for name, reason in OPTIONAL_IN_AZURE.items():
        assert name in SETTINGS_BY_NAME, f"{name} is no longer a setting of the code"
        setting = SETTINGS_BY_NAME[name]
        assert setting.default is not None and not setting.required, f"{name} has no default, Azure must set it"
        assert reason
    assert set(settings_set_by_bicep()) >= PLATFORM_SETTINGS, "PLATFORM_SETTINGS lists a setting the Bicep dropped"


def test_required_and_host_referenced_settings_are_set():
    by_bicep = set(settings_set_by_bicep())
    required = {s.name for s in SETTINGS if s.required or s.default is None}
    assert required <= by_bicep, sorted(required - by_bicep)
    assert by_bicep >= HOST_REFERENCED


def test_storage_is_identity_based():
    settings = settings_set_by_bicep()
    for name in LOCAL_ONLY:
        assert name not in settings, f"{name} must not be set in Azure: {LOCAL_ONLY[name]}"
    assert "AzureWebJobsStorage" not in settings, "host storage must use the identity-based AzureWebJobsStorage__*"
    for prefix in ("AzureWebJobsStorage", STORAGE_PREFIX):
        assert settings[f"{prefix}__credential"] == ["'managedidentity'"]
        assert settings[f"{prefix}__clientId"] == ["identityClientId"]
    assert settings[f"{STORAGE_PREFIX}__blobServiceUri"] and settings[f"{STORAGE_PREFIX}__queueServiceUri"]
    everything = "\n".join(path.read_text(encoding="utf-8") for path in BICEP_FILES)
    assert "listKeys(" not in everything and "AccountKey=" not in everything
    assert "WEBSITE_RUN_FROM_PACKAGE" not in everything, "the package is deployed to the private container, not a URL"
    assert "allowSharedKeyAccess: false" in (INFRA / "modules" / "storage.bicep").read_text(encoding="utf-8")


def test_secret_settings_are_key_vault_references():
    settings = settings_set_by_bicep()
    for setting in SETTINGS:
        if setting.secret and setting.name in settings:
            for value in settings[setting.name]:
                assert value.startswith("'@Microsoft.KeyVault(SecretUri="), f"{setting.name} = {value}"


# ---------------------------------------------------------------- security properties of the templates


def test_secret_parameters_are_secure():
    for path in BICEP_FILES:
        for declaration, decorators in top_level_declarations(parse(path), "parameter_declaration"):
            name = declaration_name(declaration)
            param_type = next((text(c) for c in declaration.children if c.type == "type"), "")
            if param_type == "string" and SECURE_NAME_RE.search(name):
                assert "secure" in decorators, f"{path.name}: parameter {name} must be @secure()"


def test_outputs_carry_no_secrets():
    for path in BICEP_FILES:
        root = parse(path)
        secure = {
            declaration_name(d) for d, decorators in top_level_declarations(root, "parameter_declaration")
            if "secure" in decorators
        }
        secret_vars = {"webhookFunctionKey", "logicAppFunctionKey"} if path.name == "main.bicep" else set()
        for declaration, _ in top_level_declarations(root, "output_declaration"):
            name = declaration_name(declaration)
            value = declaration.children[-1]
            identifiers = {text(n) for n in walk(value) if n.type == "identifier"}
            assert not identifiers & (secure | secret_vars), f"{path.name}: output {name} exposes a secret"
            assert not re.search(r"\blist\w*\(|ConnectionString|InstrumentationKey", text(value)), (
                f"{path.name}: output {name} may expose a key"
            )
            assert not re.search(r"password|secret$", name, re.IGNORECASE), f"{path.name}: output {name}"


def test_role_assignments_have_deterministic_names():
    count = 0
    for path in BICEP_FILES:
        for declaration, _ in top_level_declarations(parse(path), "resource_declaration"):
            resource_type = string_value(declaration.children[2]) or ""
            if not resource_type.startswith("Microsoft.Authorization/roleAssignments@"):
                continue
            count += 1
            body = next(n for n in walk(declaration) if n.type == "object")
            name = next(p for p in body.children if p.type == "object_property" and property_key(p) == "name")
            value = name.children[-1]
            assert value.type == "call_expression" and text(value.children[0]) == "guid", (
                f"{path.name}: {declaration_name(declaration)} must be named guid(scope, principal, role)"
            )
    assert count >= 8


def test_graph_permissions_match_the_script():
    main = INFRA / "main.bicep"
    script = GRANT_SCRIPT.read_text(encoding="utf-8")
    for bicep_var, script_var in (("graphReadRoles", "READ_ROLES"), ("graphWriteRoles", "WRITE_ROLES"),
                                  ("graphWebhookRoles", "WEBHOOK_ROLES")):
        match = re.search(rf"readonly {script_var}=\(([^)]*)\)", script)
        assert match, f"{script_var} not found in {GRANT_SCRIPT.name}"
        assert string_array_variable(main, bicep_var) == match.group(1).split(), bicep_var
    write = string_array_variable(main, "graphWriteRoles")
    assert set(write) == {
        "SecurityAlert.ReadWrite.All", "SecurityIncident.ReadWrite.All", "IdentityRiskEvent.Read.All",
        "IdentityRiskyUser.ReadWrite.All", "IdentityRiskyServicePrincipal.ReadWrite.All",
    }
    assert not any("ReadWrite" in role for role in string_array_variable(main, "graphReadRoles"))


def test_grant_script_is_valid_bash():
    bash = shutil.which("bash")
    assert bash, "bash is needed for scripts/grant-graph-permissions.sh"
    subprocess.run([bash, "-n", str(GRANT_SCRIPT)], check=True, timeout=30)
    shown = subprocess.run([bash, str(GRANT_SCRIPT), "--help"], capture_output=True, text=True, timeout=30, check=True)
    assert "--principal-id" in shown.stdout
    refused = subprocess.run([bash, str(GRANT_SCRIPT), "--principal-id", "not-a-guid"], capture_output=True,
                             text=True, timeout=30, check=False)
    assert refused.returncode != 0 and "GUID" in refused.stderr


# ---------------------------------------------------------------- azd


def test_azure_yaml_deploys_the_function_app():
    yaml = (ROOT / "azure.yaml").read_text(encoding="utf-8")
    service = re.search(r"^services:\n  api:\n((?:    .*\n)+)", yaml, re.MULTILINE)
    assert service, "azure.yaml needs the service 'api'"
    fields = dict(re.findall(r"^    (\w+): (\S+)$", service.group(1), re.MULTILINE))
    assert fields == {"project": ".", "language": "python", "host": "function"}
    assert re.search(r"^infra:\n(?:  .*\n)*  path: infra$", yaml, re.MULTILINE)


def test_parameters_file_matches_main():
    parameters = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    declared: dict[str, tuple[bool, list[str], str]] = {}
    for declaration, decorators in top_level_declarations(parse(INFRA / "main.bicep"), "parameter_declaration"):
        has_default = any(c.type == "=" for c in declaration.children)
        declared[declaration_name(declaration)] = (has_default, decorators, text(declaration))
    assert set(parameters) <= set(declared), sorted(set(parameters) - set(declared))
    for name, (has_default, decorators, _) in declared.items():
        if not has_default:
            # Without a default: mapped to an azd variable, or generated by azd (metadata type 'generate').
            assert name in parameters or "metadata" in decorators, f"parameter {name} has no value source"
        if "secure" in decorators:
            assert name not in parameters, f"secure parameter {name} must not come from a plain environment value"
    seed = INFRA.joinpath("main.bicep").read_text(encoding="utf-8")
    assert re.search(r"type: 'generate'[^@]*param functionKeySeed string\n", seed), "azd must generate the seed"


def test_postdeploy_hook_uses_the_vault_secret_names():
    # The hook sets the host keys from the secrets keyvault.bicep writes; the names live in both files.
    vault_names = set(re.findall(r"^var \w+FunctionKeyName = '([a-z-]+)'$",
                                 (INFRA / "modules" / "keyvault.bicep").read_text(encoding="utf-8"), re.MULTILINE))
    assert vault_names == {"webhook-function-key", "logicapp-function-key"}
    yaml = (ROOT / "azure.yaml").read_text(encoding="utf-8")
    for name in vault_names:
        assert yaml.count(name) >= 2, f"azure.yaml hooks (posix and windows) must set the host key from {name}"


# ---------------------------------------------------------------- documentation


def test_every_parameter_is_documented():
    doc = (ROOT / "README.md").read_text(encoding="utf-8")
    declarations = top_level_declarations(parse(INFRA / "main.bicep"), "parameter_declaration")
    names = [declaration_name(d) for d, _ in declarations]
    undocumented = [name for name in names if f"| `{name}`" not in doc]
    assert not undocumented, f"parameters missing from the README's parameter table: {undocumented}"
