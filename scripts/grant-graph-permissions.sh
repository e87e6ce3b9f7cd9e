#!/usr/bin/env bash
# Grant the Microsoft Graph application permissions (app roles) the Graph Security Bridge needs to its managed
# identity, with the Azure CLI. Use it when the Bicep deployment does not grant them (grantGraphPermissions=false,
# a US Government cloud, where the Microsoft Graph Bicep extension is not available, or a deploying user without
# the right to grant app roles: run it as someone who has).
#
# Idempotent: roles already assigned are left alone; run it again after changing --read-only or --webhooks.
# With --prune it also removes the bridge's own Graph roles that are no longer wanted (for example the ReadWrite
# roles after switching to --read-only); roles outside the bridge's list are never touched.
#
# Needs: az (logged in to the cloud of the tenant: `az cloud set --name AzureUSGovernment` for USGov/USGovDoD,
# then `az login`) and a signed-in user allowed to grant app roles (Privileged Role Administrator, Cloud
# Application Administrator or Global Administrator; in Graph terms AppRoleAssignment.ReadWrite.All and
# Application.Read.All).

set -euo pipefail

readonly GRAPH_APP_ID="00000003-0000-0000-c000-000000000000"

# The same lists as infra/main.bicep (tests/unit/test_infra.py checks that they match).
readonly READ_ROLES=(
  SecurityAlert.Read.All
  SecurityIncident.Read.All
  IdentityRiskEvent.Read.All
  IdentityRiskyUser.Read.All
  IdentityRiskyServicePrincipal.Read.All
)
readonly WRITE_ROLES=(
  SecurityAlert.ReadWrite.All
  SecurityIncident.ReadWrite.All
  IdentityRiskEvent.Read.All
  IdentityRiskyUser.ReadWrite.All
  IdentityRiskyServicePrincipal.ReadWrite.All
)
# Graph accepts only this permission to subscribe to (legacy) security alert change notifications.
readonly WEBHOOK_ROLES=(
  SecurityEvents.ReadWrite.All
)
# The context streams (docs/context.md); each is optional.
readonly CONTEXT_ROLES=(
  User.Read.All
  Device.Read.All
  DeviceManagementManagedDevices.Read.All
  RoleManagement.Read.Directory
  AuditLog.Read.All
  Application.Read.All
)

usage() {
  cat <<'USAGE'
Usage: scripts/grant-graph-permissions.sh --principal-id <object-id> [options]

  --principal-id ID   Object (principal) id of the managed identity's service principal
                      (azd output MANAGED_IDENTITY_PRINCIPAL_ID).
  --cloud NAME        Global (default), USGov or USGovDoD.
  --read-only         Read permissions only (the app runs with ACTIONS_ENABLED=false).
  --webhooks          Add the permission for security alert change notifications.
  --context           Add the read permissions of the context streams (docs/context.md).
  --prune             Remove the bridge's Graph roles that are not wanted any more.
  --dry-run           Show what would change, change nothing.
  -h, --help          This help.

Example (after azd up with grantGraphPermissions=false):
  scripts/grant-graph-permissions.sh --principal-id "$(azd env get-value MANAGED_IDENTITY_PRINCIPAL_ID)" \
    --cloud "$(azd env get-value GRAPH_CLOUD)"
USAGE
}

die() {
  echo "error: $*" >&2
  exit 1
}

principal_id=""
cloud="Global"
read_only=false
webhooks=false
context=false
prune=false
dry_run=false

while [ $# -gt 0 ]; do
  case "$1" in
    --principal-id) [ $# -ge 2 ] || die "--principal-id needs a value"; principal_id="$2"; shift 2 ;;
    --cloud) [ $# -ge 2 ] || die "--cloud needs a value"; cloud="$2"; shift 2 ;;
    --read-only) read_only=true; shift ;;
    --webhooks) webhooks=true; shift ;;
    --context) context=true; shift ;;
    --prune) prune=true; shift ;;
    --dry-run) dry_run=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

[[ "$principal_id" =~ ^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$ ]] \
  || die "--principal-id must be the object id (a GUID) of the managed identity's service principal"

case "$cloud" in
  Global) graph="https://graph.microsoft.com"; az_cloud="AzureCloud" ;;
  USGov) graph="https://graph.microsoft.us"; az_cloud="AzureUSGovernment" ;;
  USGovDoD) graph="https://dod-graph.microsoft.us"; az_cloud="AzureUSGovernment" ;;
  *) die "--cloud must be Global, USGov or USGovDoD (China does not offer the security APIs)" ;;
esac

command -v az >/dev/null 2>&1 || die "the Azure CLI (az) is required"
current_cloud="$(az cloud show --query name --output tsv)"
[ "$current_cloud" = "$az_cloud" ] \
  || die "az is set to cloud $current_cloud; run 'az cloud set --name $az_cloud' and 'az login' first"

# Calls Microsoft Graph of the chosen cloud with the signed-in user's token.
graph_rest() {
  az rest --resource "$graph" --only-show-errors "$@"
}

wanted=()
if [ "$read_only" = true ]; then wanted+=("${READ_ROLES[@]}"); else wanted+=("${WRITE_ROLES[@]}"); fi
if [ "$webhooks" = true ]; then wanted+=("${WEBHOOK_ROLES[@]}"); fi
if [ "$context" = true ]; then wanted+=("${CONTEXT_ROLES[@]}"); fi
managed=("${READ_ROLES[@]}" "${WRITE_ROLES[@]}" "${WEBHOOK_ROLES[@]}" "${CONTEXT_ROLES[@]}")

contains() {
  local needle="$1"
  shift
  local item
  for item in "$@"; do
    [ "$item" = "$needle" ] && return 0
  done
  return 1
}

# Microsoft Graph's service principal in this tenant and the ids of its application roles.
graph_sp_id="$(graph_rest --method get \
  --url "$graph/v1.0/servicePrincipals?\$filter=appId%20eq%20'$GRAPH_APP_ID'&\$select=id" \
  --query "value[0].id" --output tsv)"
[ -n "$graph_sp_id" ] || die "Microsoft Graph's service principal was not found in this tenant"

# Its application roles as "value id" lines (one call).
graph_roles="$(graph_rest --method get --url "$graph/v1.0/servicePrincipals/$graph_sp_id?\$select=appRoles" \
  --query "appRoles[?contains(allowedMemberTypes, 'Application')].[value, id]" --output tsv)"

# The managed identity's current assignments on Microsoft Graph, as "assignmentId appRoleId" lines. A managed
# identity created minutes ago may not have replicated to every Entra ID replica yet (the Graph Bicep extension
# meets the same delay, microsoftgraph/msgraph-bicep-types#193): retry for a few minutes before giving up.
tries=0
until current="$(graph_rest --method get \
  --url "$graph/v1.0/servicePrincipals/$principal_id/appRoleAssignments?\$select=id,appRoleId,resourceId" \
  --query "value[?resourceId=='$graph_sp_id'].[id, appRoleId]" --output tsv)"; do
  tries=$((tries + 1))
  [ "$tries" -lt "${GRANT_RETRIES:-6}" ] \
    || die "cannot read the app role assignments of $principal_id (is it the managed identity's object id?)"
  echo "service principal $principal_id not readable yet (new identities take a few minutes to replicate); retrying" >&2
  sleep "${GRANT_RETRY_SECONDS:-30}"
done

changes=0
seen=()
for role in "${managed[@]}"; do
  # Each role once, even when it is in two lists (IdentityRiskEvent.Read.All).
  # ${seen[@]+...}: an empty array is "unbound" for set -u in bash 3.2 (macOS).
  if contains "$role" ${seen[@]+"${seen[@]}"}; then continue; fi
  seen+=("$role")

  id="$(printf '%s\n' "$graph_roles" | awk -v name="$role" '$1 == name { print $2; exit }')"
  [ -n "$id" ] || die "Microsoft Graph in this cloud has no application permission $role"
  assignment="$(printf '%s\n' "$current" | awk -v rid="$id" '$2 == rid { print $1; exit }')"

  if contains "$role" "${wanted[@]}"; then
    if [ -n "$assignment" ]; then
      echo "ok       $role"
      continue
    fi
    echo "grant    $role"
    changes=$((changes + 1))
    if [ "$dry_run" = false ]; then
      graph_rest --method post --url "$graph/v1.0/servicePrincipals/$principal_id/appRoleAssignments" \
        --headers "Content-Type=application/json" \
        --body "{\"principalId\": \"$principal_id\", \"resourceId\": \"$graph_sp_id\", \"appRoleId\": \"$id\"}" \
        --output none
    fi
  elif [ -n "$assignment" ]; then
    if [ "$prune" = true ]; then
      echo "revoke   $role"
      changes=$((changes + 1))
      if [ "$dry_run" = false ]; then
        graph_rest --method delete \
          --url "$graph/v1.0/servicePrincipals/$principal_id/appRoleAssignments/$assignment" --output none
      fi
    else
      echo "extra    $role (not needed; --prune removes it)"
    fi
  fi
done

if [ "$dry_run" = true ]; then
  echo "dry run: $changes change(s) not made"
else
  # Managed identity tokens are cached by Azure for around 24 hours per resource and cannot be refreshed earlier:
  # a restart of the app does not bring the new roles sooner (learn.microsoft.com, managed identity best practice
  # recommendations, "Limitation of using managed identities for authorization").
  echo "$changes change(s) made. The app's identity gets a token with the new roles within about 24 hours (Azure caches managed identity tokens; a restart does not refresh them)."
fi
