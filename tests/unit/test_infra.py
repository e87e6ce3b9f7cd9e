"""Acceptance tests of the infrastructure (infra/, azure.yaml, scripts/grant-graph-permissions.sh).

No Bicep compiler can run here, so the Bicep is checked three ways:
- syntax: every .bicep file parses with tree-sitter-bicep;
- policy: checkov's Bicep scan finds no misconfiguration (inline skips carry a one-line reason);
- contract: the app settings the function app module sets match what the code reads (shared.settings.SETTINGS).

tree-sitter-bicep 1.1.0 and checkov's parser do not know the `extension` statement that the Microsoft Graph Bicep
extension needs; both see a copy of the file in which that one statement, and nothing else, is blanked. The rule
for where it may stand: in exactly the files that declare Microsoft.Graph resources, once each (a file needs it for
its Graph resources and for nothing else).
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
                                          "graph-permissions", "multi-tenant-app", "eventgrid", "logicapp")} <= names


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.relative_to(INFRA).as_posix())
def test_bicep_parses(path: Path):
    root = parse(path)
    assert not root.has_error, f"{path.name} does not parse: " + "; ".join(error_lines(root))


GRAPH_RESOURCE_RE = re.compile(r"^resource\s+\w+\s+'Microsoft\.Graph/", re.MULTILINE)


def test_the_graph_extension_is_declared_exactly_where_graph_resources_are():
    # The blanking hides one statement per file, and only in files that need it: the syntax gate stays strict for
    # every other line, and for every file without Graph resources.
    hits = {path.relative_to(INFRA).as_posix(): len(GRAPH_EXTENSION_RE.findall(path.read_text(encoding="utf-8")))
            for path in BICEP_FILES}
    users = {path.relative_to(INFRA).as_posix() for path in BICEP_FILES
             if GRAPH_RESOURCE_RE.search(path.read_text(encoding="utf-8"))}
    assert {name: n for name, n in hits.items() if n} == dict.fromkeys(users, 1)
    assert {"modules/graph-permissions.bicep", "modules/multi-tenant-app.bicep"} <= users  # the rule is not vacuous
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
                                  ("graphWebhookRoles", "WEBHOOK_ROLES"), ("graphContextRoles", "CONTEXT_ROLES")):
        match = re.search(rf"readonly {script_var}=\(([^)]*)\)", script)
        assert match, f"{script_var} not found in {GRANT_SCRIPT.name}"
        assert string_array_variable(main, bicep_var) == match.group(1).split(), bicep_var
    write = string_array_variable(main, "graphWriteRoles")
    assert set(write) == {
        "SecurityAlert.ReadWrite.All", "SecurityIncident.ReadWrite.All", "IdentityRiskEvent.Read.All",
        "IdentityRiskyUser.ReadWrite.All", "IdentityRiskyServicePrincipal.ReadWrite.All",
    }
    assert not any("ReadWrite" in role for role in string_array_variable(main, "graphReadRoles"))
    # The context streams' permissions: read-only, one per lookup (shared/context/entities.py names them).
    from shared.context.entities import KINDS

    needed = {part.permission for kind in KINDS.values() for part in kind.parts("x")}
    assert set(string_array_variable(main, "graphContextRoles")) == needed


MULTI_TENANT_MODULE = INFRA / "modules" / "multi-tenant-app.bicep"


def module_call(main_text: str, module: str) -> str:
    match = re.search(rf"^module \w+ 'modules/{re.escape(module)}' = .*?^}}$", main_text, re.MULTILINE | re.DOTALL)
    assert match, f"main.bicep does not use modules/{module}"
    return match.group(0)


def test_the_multi_tenant_app_trusts_the_function_apps_identity_and_nothing_else():
    # Entra accepts a wrong issuer, subject or audience silently and fails only at the token exchange, so the
    # contract is checked here: the home tenant's v2.0 issuer, the identity's principal (object) id as the subject,
    # the public token-exchange audience alone; a multi-tenant app that declares its Graph roles for consent.
    module = MULTI_TENANT_MODULE.read_text(encoding="utf-8")
    assert not parse(MULTI_TENANT_MODULE).has_error
    issuer = r"^var issuer = '\$\{environment\(\)\.authentication\.loginEndpoint\}\$\{tenant\(\)\.tenantId\}/v2\.0'$"
    assert re.search(issuer, module, re.MULTILINE)
    fic = re.search(r"resource \w+ 'federatedIdentityCredentials@v1\.0' = \{(.*?)\n  \}", module, re.DOTALL)
    assert fic, "no federated identity credential on the app"
    assert re.search(r"^\s+issuer: issuer$", fic.group(1), re.MULTILINE)
    assert re.search(r"^\s+subject: identityPrincipalId$", fic.group(1), re.MULTILINE)
    assert re.search(r"audiences: \[\s*tokenExchangeAudience\s*\]", fic.group(1))
    assert "var tokenExchangeAudience = 'api://AzureADTokenExchange'" in module
    assert "signInAudience: 'AzureADMultipleOrgs'" in module
    assert re.search(r"requiredResourceAccess: \[\s*\{\s*resourceAppId: graphAppId", module)
    assert "type: 'Role'" in module and "var graphAppId = '00000003-0000-0000-c000-000000000000'" in module
    assert not re.search(r"passwordCredentials|keyCredentials", module), "the app must have no secret or certificate"
    assert "output adminConsentUrlTemplate string" in module and "{customer-tenant-id}/v2.0/adminconsent" in module

    main = (INFRA / "main.bicep").read_text(encoding="utf-8")
    call = module_call(main, "multi-tenant-app.bicep")
    assert "if (createMultiTenantApp)" in call
    assert "identityPrincipalId: identity.outputs.principalId" in call, "the subject is the principal id, not client id"
    assert "appRoles: graphAppRoles" in call
    assert re.search(r"^var createMultiTenantApp = authMode == 'managedIdentityFederation' && .*'AzureCloud'$", main,
                     re.MULTILINE), "the app is made only on request (authMode) and only in the public cloud"
    assert re.search(r"^param authMode string = 'managedIdentity'$", main, re.MULTILINE), "off by default"
    assert "ADMIN_CONSENT_URL_TEMPLATE" in main

    settings = settings_set_by_bicep()
    assert any("managed_identity_federation" in value for value in settings["GRAPH_AUTH_MODE"])
    assert settings["GRAPH_FEDERATED_IDENTITY_CLIENT_ID"] == [
        "authMode == 'managedIdentityFederation' ? identityClientId : ''"]


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
    # The deployment documentation moved from the README to docs/deployment.md; the README links it.
    assert "(docs/deployment.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
    doc = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    declarations = top_level_declarations(parse(INFRA / "main.bicep"), "parameter_declaration")
    names = [declaration_name(d) for d, _ in declarations]
    undocumented = [name for name in names if f"| `{name}`" not in doc]
    assert not undocumented, f"parameters missing from the parameter table of docs/deployment.md: {undocumented}"


# ---------------------------------------------------------------- keys: each machine caller opens only its functions


def app_functions() -> dict[str, list]:
    """Function name -> its bindings, as the Functions host indexes them from function_app.py."""
    import function_app

    function_app.app.functions_bindings = None  # get_functions() refuses a second call otherwise
    return {f.get_function_name(): f.get_bindings() for f in function_app.app.get_functions()}


def http_route(bindings: list) -> tuple[str, set[str]] | None:
    for binding in bindings:
        if binding.type == "httpTrigger":
            return binding.route, {str(getattr(m, "value", m)) for m in binding.methods}
    return None


def postdeploy_function_keys() -> dict[str, dict[str, set[str]]]:
    """Shell -> key name -> function names that the postdeploy hook sets the key on."""
    import yaml

    hooks = yaml.safe_load((ROOT / "azure.yaml").read_text(encoding="utf-8"))["hooks"]["postdeploy"]
    found: dict[str, dict[str, set[str]]] = {}
    posix = hooks["posix"]["run"]
    found["posix"] = {m.group(1): set(m.group(3).split())
                      for m in re.finditer(r"^\s*set_function_keys (\S+) (\S+) ([\w ]+)$", posix, re.MULTILINE)}
    windows = hooks["windows"]["run"]
    found["windows"] = {m.group(1): set(re.findall(r"'(\w+)'", m.group(3)))
                        for m in re.finditer(r"Set-FunctionKeys '(\w+)' '([\w-]+)' @\(([^)]*)\)", windows)}
    return found


PLAYBOOK = INFRA / "modules" / "logicapp.bicep"
# An HTTP call of the playbook to the app: its method, then its URI below the route prefix (an expression such as
# @{encodeUriComponent(...)} stands for one path segment).
PLAYBOOK_CALL_RE = re.compile(r"method: '(\w+)'\n\s+uri: 'https://\$\{functionAppHostName\}/api/((?:[^'\\]|\\.)*)'")


def playbook_calls() -> list[tuple[str, str]]:
    calls = PLAYBOOK_CALL_RE.findall(PLAYBOOK.read_text(encoding="utf-8"))
    assert calls, "the playbook calls no route of the app"
    return [(method, re.sub(r"@\{[^}]*\}", "x1", path).split("?")[0]) for method, path in calls]


def function_serving(functions: dict[str, list], method: str, path: str) -> str:
    """The one function whose route template and method serve `method path` (the dev host's route matcher)."""
    from local.devhost import RouteTemplate

    serving = [name for name, bindings in functions.items()
               if (route := http_route(bindings)) and method in route[1]
               and RouteTemplate(route[0]).match(path.split("/")) is not None]
    literal = [name for name in serving if "{" not in (http_route(functions[name]) or ("{",))[0]]
    chosen = literal or serving  # a literal route wins over a parameter, as on the host
    assert len(chosen) == 1, f"{method} {path}: served by {serving}"
    return chosen[0]


def test_postdeploy_sets_function_keys_not_host_keys():
    yaml_text = (ROOT / "azure.yaml").read_text(encoding="utf-8")
    # A host key (az functionapp keys set) opens every function of the app, the write actions included.
    assert "functionapp keys set" not in yaml_text
    functions = app_functions()
    webhook_functions = {name for name, b in functions.items()
                         if (r := http_route(b)) and r[0] in ("webhooks/notifications", "webhooks/lifecycle")}
    assert webhook_functions == {"webhook_notifications", "webhook_lifecycle"}
    # The sample playbook's key opens exactly the functions its trigger and actions call (infra/modules/logicapp.bicep).
    logic_functions = {function_serving(functions, method, path) for method, path in playbook_calls()}
    assert logic_functions == {"triggers_alerts", "actions_get_alert", "actions_add_alert_comment",
                               "actions_update_alert"}
    expected = {"graphwebhook": webhook_functions, "logicapp": logic_functions}
    for shell, keys in postdeploy_function_keys().items():
        assert keys == expected, f"{shell} hook: {keys}"
        for names in keys.values():
            assert names <= set(functions), f"{shell} hook names functions the app does not have: {names}"


def test_postdeploy_removes_the_old_host_keys():
    yaml_text = (ROOT / "azure.yaml").read_text(encoding="utf-8")
    assert yaml_text.count("functionapp keys delete") == 2  # posix and windows


def test_azd_version_is_pinned():
    import yaml

    required = yaml.safe_load((ROOT / "azure.yaml").read_text(encoding="utf-8"))["requiredVersions"]
    assert re.fullmatch(r">= 1\.(1[7-9]|[2-9]\d)\.\d+", required["azd"])


# ---------------------------------------------------------------- audit trail and versioning


def module_params(main_text: str, module: str) -> str:
    match = re.search(rf"^module {module} '[^']+' = (?:if \([^)]*\) )?\{{\n(.*?)\n\}}\n", main_text,
                      re.MULTILINE | re.DOTALL)
    assert match, f"module {module} not in main.bicep"
    return match.group(1)


def test_audit_container_is_append_only_and_data_is_versioned():
    storage = (INFRA / "modules" / "storage.bicep").read_text(encoding="utf-8")
    policy = re.search(r"resource immutability 'Microsoft\.Storage/storageAccounts/blobServices/containers/"
                       r"immutabilityPolicies@[\d-]+' = \[for policy in immutableContainers: \{(.*?)\n\}\]",
                       storage, re.DOTALL)
    assert policy, "storage.bicep has no immutability policy resource"
    assert "immutabilityPeriodSinceCreationInDays: policy.days" in policy.group(1)
    assert "name: '${account.name}/default/${policy.name}/default'" in policy.group(1)
    # Append blobs (the audit lines) may grow; nothing else may change.
    assert "allowProtectedAppendWrites: true" in policy.group(1)
    assert "allowProtectedAppendWritesAll" not in policy.group(1)
    assert "isVersioningEnabled: versioningEnabled" in storage
    main = (INFRA / "main.bicep").read_text(encoding="utf-8")
    data = module_params(main, "dataStorage")
    assert "immutableContainers: immutableDataContainers" in data
    # graph-audit always; graph-export only with exportImmutabilityDays > 0.
    assert re.search(r"var immutableDataContainers = concat\(\[\n  \{\n    name: auditContainerName\n"
                     r"    days: auditImmutabilityDays\n  \}\n\], exportImmutabilityDays > 0 \? \[\n  \{\n"
                     r"    name: exportContainerName\n    days: exportImmutabilityDays\n  \}\n\] : \[\]\)", main)
    assert "param exportImmutabilityDays int = 0" in main
    assert "versioningEnabled: true" in data
    assert "var auditContainerName = 'graph-audit'" in main
    # The app cannot delete previous versions: its role on the data containers is Blob Data Contributor, which has
    # no deleteBlobVersion action; Owner is only on the host account.
    rbac = (INFRA / "modules" / "rbac.bicep").read_text(encoding="utf-8")
    assert re.search(r"scope: dataContainers\[i\]\n  properties: \{\n    principalId: appPrincipalId\n.*?"
                     r"roles\.storageBlobDataContributor", rbac, re.DOTALL)
    assert rbac.count("roles.storageBlobDataOwner)") == 2 and "scope: hostStorage\n" in rbac


# ---------------------------------------------------------------- queue roles follow the bindings


def queue_variable(main: str, queue_name: str, settings: dict[str, list[str]]) -> str:
    """The main.bicep variable that names the queue a binding uses: through its app setting (`%X%`, set from a
    module parameter that main.bicep passes from its variable of the same name) or by the literal name."""
    setting = re.fullmatch(r"%(\w+)%", queue_name)
    if setting:
        (parameter,) = settings[setting.group(1)]
        assert f"{parameter}: {parameter}" in module_params(main, "functionApp"), parameter
        return parameter
    literal = re.search(rf"^var (\w+) = '{re.escape(queue_name)}'$", main, re.MULTILINE)
    assert literal, f"no main.bicep variable names the queue {queue_name!r}"
    return literal.group(1)


def test_queue_roles_follow_the_bindings():
    settings = settings_set_by_bicep()
    main_path = INFRA / "main.bicep"
    main = main_path.read_text(encoding="utf-8")
    triggers, outputs = set(), set()
    for bindings in app_functions().values():
        for binding in bindings:
            name = getattr(binding, "queue_name", None)
            if name:
                variable = queue_variable(main, name, settings)
                (triggers if binding.type == "queueTrigger" else outputs).add(variable)
    assert "webhookQueueName" in triggers and "webhookQueueName" in outputs
    assert set(string_array_variable(main_path, "appTriggerQueueNames")) == triggers
    # Output bindings send; the host moves a message that keeps failing to <trigger queue>-poison.
    poison = set()
    for trigger in triggers:
        found = re.search(rf"^var (\w+) = '\$\{{{trigger}\}}-poison'$", main, re.MULTILINE)
        assert found, f"no poison queue variable for {trigger}"
        poison.add(found.group(1))
    assert set(string_array_variable(main_path, "appSenderQueueNames")) == outputs | poison
    assert set(string_array_variable(main_path, "appQueueNames")) >= triggers | outputs | poison
    rbac_params = module_params(main, "rbac")
    assert "triggerQueueNames: appTriggerQueueNames" in rbac_params
    assert "senderQueueNames: appSenderQueueNames" in rbac_params
    rbac = (INFRA / "modules" / "rbac.bicep").read_text(encoding="utf-8")
    assert "storageQueueDataContributor" not in rbac
    roles_on = {
        scope: set(re.findall(r"roles\.(\w+)\)", block))
        for scope, block in re.findall(r"scope: (triggerQueues|senderQueues)\[i\]\n(.*?)\n\}\]", rbac, re.DOTALL)
    }
    by_scope: dict[str, set[str]] = {}
    for scope, block in re.findall(r"name: guid\((triggerQueues|senderQueues)\[i\]\.id, appPrincipalId, roles\.(\w+)\)",
                                   rbac):
        by_scope.setdefault(scope, set()).add(block)
    assert by_scope == {
        "triggerQueues": {"storageQueueDataReader", "storageQueueDataMessageProcessor"},
        "senderQueues": {"storageQueueDataMessageSender"},
    }, (by_scope, roles_on)
    ids = dict(re.findall(r"^  (\w+): '([0-9a-f-]{36})'$", rbac, re.MULTILINE))
    # Built-in role ids (learn.microsoft.com/azure/role-based-access-control/built-in-roles/storage).
    assert ids["storageQueueDataReader"] == "19e7f393-937e-4f77-808e-94535e297925"
    assert ids["storageQueueDataMessageProcessor"] == "8a0f0c08-91a1-4084-bc3d-661d67233fed"
    assert ids["storageQueueDataMessageSender"] == "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a"


# ---------------------------------------------------------------- observability


# Resource types without a diagnostic setting of their own, and why that loses nothing.
NO_DIAGNOSTIC_SETTING = {
    "Microsoft.Resources/resourceGroups": "changes are in the Azure activity log",
    "Microsoft.ManagedIdentity/userAssignedIdentities": "offers no diagnostic categories; its sign-ins are in "
                                                        "Entra ID's service principal sign-in logs",
    "Microsoft.Authorization/roleAssignments": "changes are in the Azure activity log",
    "Microsoft.Insights/diagnosticSettings": "the settings themselves",
    "Microsoft.Insights/components": "workspace-based: its telemetry is already stored in the Log Analytics workspace",
    "Microsoft.Insights/actionGroups": "notifications sent are in the activity log",
    "Microsoft.Insights/scheduledQueryRules": "alert firings are in the activity log and Azure Monitor alerts",
    "Microsoft.Insights/metricAlerts": "alert firings are in the activity log and Azure Monitor alerts",
    "Microsoft.Insights/workbooks": "a saved view, no runtime",
    "Microsoft.Web/serverfarms": "a Flex Consumption plan has no logs; the app's metrics and logs are on the site",
    "Microsoft.Web/sites/config": "settings of the site, which has its diagnostic setting",
    "Microsoft.Web/sites/basicPublishingCredentialsPolicies": "settings of the site",
    "Microsoft.Storage/storageAccounts/blobServices/containers": "covered by the blob service's setting",
    "Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies": "covered by the blob service's "
                                                                                      "setting and the activity log",
    "Microsoft.Storage/storageAccounts/queueServices/queues": "covered by the queue service's setting",
    "Microsoft.Storage/storageAccounts/managementPolicies": "lifecycle actions are in the blob service's logs",
    "Microsoft.KeyVault/vaults/secrets": "every access is in the vault's AuditEvent log",
    "Microsoft.EventGrid/systemTopics/eventSubscriptions": "covered by the system topic's setting",
    "Microsoft.Network/privateDnsZones": "offers metrics only, no diagnostic categories",
    "Microsoft.Network/privateDnsZones/virtualNetworkLinks": "part of the zone",
    "Microsoft.Network/privateEndpoints": "offers metrics only, no diagnostic categories",
    "Microsoft.Network/privateEndpoints/privateDnsZoneGroups": "part of the endpoint",
    "Microsoft.Graph/appRoleAssignedTo": "grants are in Entra ID's audit log",
    "Microsoft.Graph/applications": "an Entra ID object: changes are in Entra ID's audit log, not Azure Monitor's",
    "Microsoft.Graph/servicePrincipals": "an Entra ID object: its sign-ins and changes are in Entra ID's logs",
}


def declared_resources(path: Path) -> list[tuple[str, str, Node]]:
    """(symbolic name, type without API version, declaration) of each resource the file creates (not `existing`)."""
    found = []
    for declaration, _ in top_level_declarations(parse(path), "resource_declaration"):
        if any(c.type == "existing" or text(c) == "existing" for c in declaration.children):
            continue
        resource_type = (string_value(declaration.children[2]) or "").split("@")[0]
        found.append((declaration_name(declaration), resource_type, declaration))
    return found


def test_every_resource_has_a_diagnostic_setting():
    missing, checked = [], 0
    for path in BICEP_FILES:
        resources = declared_resources(path)
        scoped = {
            re.search(r"^  scope: (\w+)$", text(declaration), re.MULTILINE).group(1)
            for _, resource_type, declaration in resources
            if resource_type == "Microsoft.Insights/diagnosticSettings"
        }
        for name, resource_type, _declaration in resources:
            if resource_type in NO_DIAGNOSTIC_SETTING:
                continue
            checked += 1
            if name not in scoped:
                missing.append(f"{path.name}: {name} ({resource_type})")
            setting = next(d for n, t, d in resources if t == "Microsoft.Insights/diagnosticSettings"
                           and re.search(rf"^  scope: {name}$", text(d), re.MULTILINE)) if name in scoped else None
            if setting is not None:
                body = text(setting)
                assert re.search(r"workspaceId: (logAnalyticsWorkspaceId|workspace\.id)$", body, re.MULTILINE), body
                assert "enabled: true" in body
    assert not missing, "resources without a diagnostic setting to Log Analytics (or add the type to "\
        "NO_DIAGNOSTIC_SETTING with the reason):\n" + "\n".join(missing)
    # storage accounts, blob and queue services, vault, workspace, site, system topic, workflow, vnet, nsg
    assert checked >= 10


def test_diagnostic_settings_exemptions_are_current():
    used = {t for path in BICEP_FILES for _, t, _ in declared_resources(path)}
    assert set(NO_DIAGNOSTIC_SETTING) <= used, sorted(set(NO_DIAGNOSTIC_SETTING) - used)


# Columns of the tables the alert and workbook queries read (Azure Monitor Logs table reference:
# learn.microsoft.com/azure/azure-monitor/reference/tables/apptraces, apprequests, storagequeuelogs).
LOG_TABLES = {
    "AppTraces": {"TimeGenerated", "Message", "SeverityLevel", "Properties", "OperationName", "AppRoleName"},
    "AppRequests": {"TimeGenerated", "Name", "Success", "ResultCode", "DurationMs", "OperationName"},
    "StorageQueueLogs": {"TimeGenerated", "OperationName", "StatusText", "StatusCode", "Uri", "AccountName"},
}


def kql_literals(path: Path) -> dict[str, str]:
    """Variable name -> the text of each ''' multi-line literal (the KQL queries) of a module."""
    return dict(re.findall(r"^var (\w+) = '''\n(.*?)'''$", path.read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL))


def test_alert_queries_read_real_tables_and_columns():
    alerts = INFRA / "modules" / "alerts.bicep"
    queries = {**kql_literals(alerts), **kql_literals(INFRA / "modules" / "workbook.bicep")}
    assert {"functionFailuresQuery", "poisonQueueQueryTemplate", "exportLagQuery"} <= set(queries)
    for name, query in queries.items():
        tables = set(re.findall(r"^(?:let \w+ = )?(\w+)$", query, re.MULTILINE)) & set(LOG_TABLES)
        tables |= {t for t in LOG_TABLES if re.search(rf"^{t}\b", query, re.MULTILINE)}
        assert tables, f"{name} reads no known table"
        columns = set().union(*(LOG_TABLES[t] for t in tables))
        # Every capitalised identifier the query compares or projects is a column of its table.
        used = set(re.findall(r"\b([A-Z][A-Za-z]+)\b(?= *(?:==|!=|>|<|,|\)| startswith| contains))", query))
        unknown = used - columns - set(LOG_TABLES)
        assert not unknown, f"{name}: {unknown} are not columns of {tables}"
    text_ = alerts.read_text(encoding="utf-8")
    assert "metricName: 'ServiceApiResult'" in text_ and "metricNamespace: 'Microsoft.KeyVault/vaults'" in text_
    # ServiceApiResult's dimensions (supported metrics of Microsoft.KeyVault/vaults): ActivityType, ActivityName,
    # StatusCode, StatusCodeClass.
    assert re.search(r"name: 'StatusCode'\n\s+operator: 'Include'\n\s+values: \[\n\s+'401'\n\s+'403'", text_)
    assert "{poisonQueue}" in queries["poisonQueueQueryTemplate"]
    assert "replace(poisonQueueQueryTemplate, '{poisonQueue}', poisonQueueName)" in text_
    assert "poisonQueueName: webhookPoisonQueueName" in module_params(
        (INFRA / "main.bicep").read_text(encoding="utf-8"), "alerts")


def test_export_lag_query_parses_the_line_the_app_logs():
    from shared.export.engine import RunSummary

    query = kql_literals(INFRA / "modules" / "alerts.bicep")["exportLagQuery"]
    line = RunSummary(stream="alerts", tenant="t1", lag_seconds=12.5).log_line()
    prefix = re.search(r'Message startswith "([^"]+)"', query).group(1)
    assert line.startswith(prefix)
    cut = re.search(r'substring\(Message, strlen\("([^"]+)"\)\)', query).group(1)
    parsed = json.loads(line[len(cut):])
    # Every field the query reads exists in the logged JSON, and the statuses it counts as progress exist.
    for field in re.findall(r"\brun\.(\w+)", query):
        assert field in parsed, f"the query reads run.{field}, the app logs {sorted(parsed)}"
    statuses = set(re.findall(r'"(\w+)"', re.search(r"in \(([^)]*)\)", query).group(1)))
    assert statuses == {"ok", "partial"}
    assert re.search(r"status: str = \"ok\"  # ok \| partial .*\| skipped .*\| failed",
                     (ROOT / "shared" / "export" / "engine.py").read_text(encoding="utf-8"))
    # Every run logs the line: also a failed or skipped one (the finally block of ExportEngine.run).
    engine = (ROOT / "shared" / "export" / "engine.py").read_text(encoding="utf-8")
    assert re.search(r"finally:\n\s+summary\.seconds = .*\n\s+log\.info\(summary\.log_line\(\)\)", engine)


def test_alert_rules_reach_the_operator_when_an_email_is_given():
    alerts = (INFRA / "modules" / "alerts.bicep").read_text(encoding="utf-8")
    rules = re.findall(r"^resource (\w+) 'Microsoft\.Insights/(?:scheduledQueryRules|metricAlerts)@", alerts, re.M)
    assert set(rules) == {"functionFailures", "poisonMessages", "exportLag", "keyVaultAccessFailures"}
    assert alerts.count("actions: actions") == 3 and "actionGroupId: actionGroupId" in alerts
    assert "alertEmail: alertEmail" in module_params((INFRA / "main.bicep").read_text(encoding="utf-8"), "alerts")


def test_sampling_keeps_every_trace():
    # The export-lag alert and the AUDIT-NOT-WRITTEN lines are traces: adaptive sampling must not drop them.
    host = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))
    excluded = host["logging"]["applicationInsights"]["samplingSettings"]["excludedTypes"].split(";")
    assert "Trace" in excluded


# ---------------------------------------------------------------- network isolation


def test_vnet_option_makes_storage_and_vault_private():
    main = (INFRA / "main.bicep").read_text(encoding="utf-8")
    for module in ("hostStorage", "dataStorage", "keyVault"):
        assert "privateNetworkOnly: vnetEnabled" in module_params(main, module), module
    for path in (INFRA / "modules" / "storage.bicep", INFRA / "modules" / "keyvault.bicep"):
        body = path.read_text(encoding="utf-8")
        assert "publicNetworkAccess: privateNetworkOnly ? 'Disabled' : 'Enabled'" in body, path.name
        assert "defaultAction: privateNetworkOnly ? 'Deny' : 'Allow'" in body, path.name
    groups = re.findall(r"targetId: (.+)\n\s+groupId: '(\w+)'", main)
    assert set(groups) == {("hostStorage.outputs.id", "blob"), ("dataStorage.outputs.id", "blob"),
                           ("dataStorage.outputs.id", "queue"),
                           ("resourceId(subscription().subscriptionId, names.resourceGroup, "
                            "'Microsoft.KeyVault/vaults', names.keyVault)", "vault")}
    network = (INFRA / "modules" / "network.bicep").read_text(encoding="utf-8")
    assert "serviceName: 'Microsoft.App/environments'" in network  # Flex Consumption VNet integration
    for zone in ("privatelink.blob.", "privatelink.queue.", "privatelink${replace(environment().suffixes.keyvaultDns"):
        assert zone in network
    assert "virtualNetworkSubnetId: network.?outputs.appSubnetId ?? ''" in main
    # Inbound stays public: Graph's webhook and Logic Apps call the app from the internet.
    assert "publicNetworkAccess: 'Enabled'" in (INFRA / "modules" / "functionapp.bicep").read_text(encoding="utf-8")


# ---------------------------------------------------------------- smaller items


def test_webhook_base_url_is_the_sites_real_host_name():
    assert settings_set_by_bicep()["WEBHOOK_BASE_URL"] == ["'https://${site.properties.defaultHostName}'"]
    assert "appServiceSuffix" not in FUNCTION_APP_MODULE.read_text(encoding="utf-8")


def test_host_storage_is_locally_redundant():
    assert "skuName: 'Standard_LRS'" in module_params((INFRA / "main.bicep").read_text(encoding="utf-8"),
                                                      "hostStorage")


def test_conditional_module_outputs_are_read_safely():
    # BCP318: reading outputs of a conditional module (module x = if (...)) directly may be null.
    for path in BICEP_FILES:
        body = path.read_text(encoding="utf-8")
        conditional = re.findall(r"^module (\w+) '[^']+' = if \(", body, re.MULTILINE)
        for name in conditional:
            assert not re.search(rf"\b{name}\.outputs\.", body), f"{path.name}: use {name}.?outputs.x ?? default"


def test_graph_grant_defaults_off_and_no_restart_promise():
    main = (INFRA / "main.bicep").read_text(encoding="utf-8")
    assert "param grantGraphPermissions bool = false" in main
    script = GRANT_SCRIPT.read_text(encoding="utf-8")
    assert "restart the function app to pick up" not in script
    assert "24 hours" in script


FAKE_AZ = r"""#!/usr/bin/env bash
# A stand-in for the Azure CLI: answers the calls scripts/grant-graph-permissions.sh makes, logs every call.
echo "$*" >> "$FAKE_AZ_DIR/calls"
args="$*"
case "$args" in
  "cloud show"*) echo AzureCloud ;;
  *"servicePrincipals?"*"appId"*) echo graph-sp ;;
  *"servicePrincipals/graph-sp?"*"appRoles"*)
    i=0
    for role in SecurityAlert.Read.All SecurityIncident.Read.All IdentityRiskEvent.Read.All \
                IdentityRiskyUser.Read.All IdentityRiskyServicePrincipal.Read.All SecurityAlert.ReadWrite.All \
                SecurityIncident.ReadWrite.All IdentityRiskyUser.ReadWrite.All \
                IdentityRiskyServicePrincipal.ReadWrite.All SecurityEvents.ReadWrite.All User.Read.All \
                Device.Read.All DeviceManagementManagedDevices.Read.All RoleManagement.Read.Directory \
                AuditLog.Read.All Application.Read.All; do
      i=$((i + 1)); printf '%s\trole-%s\n' "$role" "$i"
    done ;;
  *"--method get"*"appRoleAssignments"*)
    n=$(cat "$FAKE_AZ_DIR/misses" 2>/dev/null || echo 0)
    if [ "$n" -gt 0 ]; then
      echo $((n - 1)) > "$FAKE_AZ_DIR/misses"
      echo "ERROR: Resource '$args' does not exist (Request_ResourceNotFound)" >&2; exit 1
    fi ;;
  *"--method post"*) ;;
  *) echo "unexpected az call: $args" >&2; exit 2 ;;
esac
"""


def test_grant_script_waits_for_a_new_identity_to_replicate(tmp_path):
    bash = shutil.which("bash")
    assert bash
    fake = tmp_path / "az"
    fake.write_text(FAKE_AZ, encoding="utf-8")
    fake.chmod(0o755)
    (tmp_path / "misses").write_text("2", encoding="utf-8")  # the identity is not readable for two attempts
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "FAKE_AZ_DIR": str(tmp_path),
           "GRANT_RETRY_SECONDS": "0"}
    principal = "11111111-2222-3333-4444-555555555555"
    done = subprocess.run([bash, str(GRANT_SCRIPT), "--principal-id", principal, "--read-only"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("not readable yet") == 2
    posts = [c for c in (tmp_path / "calls").read_text().splitlines() if "--method post" in c]
    granted = {re.search(r'"appRoleId": "(role-\d+)"', c).group(1) for c in posts}
    assert granted == {f"role-{i}" for i in range(1, 6)}  # the five read roles, nothing else
    assert "24 hours" in done.stdout and "restart" in done.stdout  # says a restart does not refresh the token
    # An identity that never appears: a clear error after the retries, nothing granted.
    (tmp_path / "misses").write_text("99", encoding="utf-8")
    (tmp_path / "calls").unlink()
    failed = subprocess.run([bash, str(GRANT_SCRIPT), "--principal-id", principal], env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert failed.returncode != 0 and "cannot read the app role assignments" in failed.stderr
    assert "--method post" not in (tmp_path / "calls").read_text()


def test_log_alert_rules_deploy_on_a_new_workspace():
    alerts = (INFRA / "modules" / "alerts.bicep").read_text(encoding="utf-8")
    rules = re.findall(r"^resource \w+ 'Microsoft\.Insights/scheduledQueryRules@", alerts, re.MULTILINE)
    assert len(rules) == 3 and alerts.count("skipQueryValidation: true") == 3


# ---------------------------------------------------------------- the sample playbook


def test_sample_playbook_polls_the_alerts_trigger_for_new_high_severity_alerts():
    playbook = PLAYBOOK.read_text(encoding="utf-8")
    trigger = re.search(r"triggers: \{\n\s+(\w+): \{\n\s+type: 'Http'\n(.*?)\n      \}\n      actions:", playbook,
                        re.DOTALL)
    assert trigger, "the playbook's trigger is not the built-in HTTP (polling) trigger"
    body = trigger.group(2)
    assert "uri: 'https://${functionAppHostName}/api/triggers/alerts'" in body
    assert re.search(r"queries: \{\n\s+severity: 'high'\n\s+status: 'new'\n", body)
    assert "splitOn: '@triggerBody()?[\\'value\\']'" in body  # one run per alert
    # The playbook's own change moves the alert out of the trigger's filter: it cannot start itself again.
    assign = playbook[playbook.index("Assign_alert: {"):]
    assert re.search(r"body: \{\n\s+assignedTo: '@parameters\(\\'assignee\\'\)'\n\s+status: 'inProgress'", assign)
    assert "'Idempotency-Key':" in playbook[playbook.index("Comment_on_alert: {"):playbook.index("Assign_alert: {")]


def test_sample_playbook_keeps_its_key_out_of_run_history():
    playbook = PLAYBOOK.read_text(encoding="utf-8")
    # Every trigger or action that sends the key (or reads it from the vault) has secure inputs.
    blocks = re.split(r"\n\s+(?=[A-Z]\w+: \{\n\s+type: ')", playbook)
    senders = [b for b in blocks if "x-functions-key" in b or "secrets/${functionKeySecretName}" in b]
    assert len(senders) == 5, [b.split(":")[0] for b in senders]  # the trigger, the vault read and three calls
    for block in senders:
        assert re.search(r"secureData: \{\n\s+properties: \[\n\s+'inputs'", block), block[:60]
    assert "'x-functions-key': '@{parameters(\\'functionKey\\')}'" in playbook  # the trigger's copy
    assert re.search(r"functionKey: \{\n\s+type: 'securestring'", playbook)
    assert re.search(r"@secure\(\)\nparam triggerFunctionKey string", playbook)
    main = (INFRA / "main.bicep").read_text(encoding="utf-8")
    assert "triggerFunctionKey: logicAppFunctionKey" in module_params(main, "logicApp")
