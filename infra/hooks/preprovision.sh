#!/bin/sh
# Before every provision:
# 1. Vault create modes. keyrotor's vaults are purge-protected: after `azd down` each stays
#    soft-deleted under its name for 90 days, and creating it again fails. When the previous
#    provision's vault (its name is in the azd environment) is soft-deleted, provision recovers it
#    (createMode recover: keys, seal key and versions come back); otherwise it creates or updates
#    it (default). Decided every time, so a recovered vault is updated normally next time.
# 2. The Entra app registration Easy Auth validates tokens for, with keyrotor's app roles
#    (infra/auth/appRoles.json), once per azd environment. ARM/Bicep cannot create Entra objects,
#    so this runs as the signed-in `az` user (needs permission to register applications).
#    Idempotent: when AUTH_CLIENT_ID is already set in the azd environment it does nothing.
set -eu

# create_mode <vault name or empty>: recover when a soft-deleted vault of that name exists.
create_mode() {
  if [ -n "$1" ] && az keyvault show-deleted --name "$1" --query name -o tsv >/dev/null 2>&1; then
    echo recover
  else
    echo default
  fi
}
for pair in "KEYROTOR_KEYVAULT_CREATE_MODE:${KEYROTOR_KEYVAULT_NAME:-}" "KEYROTOR_LEDGER_VAULT_CREATE_MODE:${KEYROTOR_LEDGER_VAULT_NAME:-}"; do
  setting="${pair%%:*}"
  vault="${pair#*:}"
  mode="$(create_mode "$vault")"
  [ "$mode" = default ] || echo "[keyrotor] [preprovision] vault ${vault} is soft-deleted (azd down?): provision recovers it"
  azd env set "$setting" "$mode"
done

if [ -n "${AUTH_CLIENT_ID:-}" ]; then
  echo "[keyrotor] [preprovision] using app registration ${AUTH_CLIENT_ID}"
  exit 0
fi

name="keyrotor-${AZURE_ENV_NAME}"
echo "[keyrotor] [preprovision] creating app registration ${name}"
app_id=$(az ad app create --display-name "$name" --sign-in-audience AzureADMyOrg \
  --app-roles @infra/auth/appRoles.json --query appId -o tsv)
object_id=$(az ad app show --id "$app_id" --query id -o tsv)
az ad app update --id "$app_id" --identifier-uris "api://${app_id}"

# A delegated scope so people can get a token for the API, and Azure CLI pre-authorized for it
# (its public client id), so `az account get-access-token --scope api://<id>/.default` works
# without a consent prompt. Two PATCHes: Graph refuses to pre-authorize a scope it has not stored.
scope_id=$(cat /proc/sys/kernel/random/uuid 2>/dev/null || uuidgen)
az rest --method PATCH --uri "https://graph.microsoft.com/v1.0/applications/${object_id}" \
  --headers "Content-Type=application/json" \
  --body "{\"api\":{\"requestedAccessTokenVersion\":2,\"oauth2PermissionScopes\":[{\"id\":\"${scope_id}\",\"value\":\"user_impersonation\",\"type\":\"User\",\"isEnabled\":true,\"adminConsentDisplayName\":\"Use keyrotor\",\"adminConsentDescription\":\"Call the keyrotor API with the roles assigned to you.\"}]}}"
az rest --method PATCH --uri "https://graph.microsoft.com/v1.0/applications/${object_id}" \
  --headers "Content-Type=application/json" \
  --body "{\"api\":{\"preAuthorizedApplications\":[{\"appId\":\"04b07795-8ddb-461a-bbee-02f9e1bf7b46\",\"delegatedPermissionIds\":[\"${scope_id}\"]}]}}"

# The enterprise application; only principals with an app role assignment may get a token at all.
az ad sp create --id "$app_id" >/dev/null
az ad sp update --id "$app_id" --set appRoleAssignmentRequired=true

azd env set AUTH_CLIENT_ID "$app_id"
echo "[keyrotor] [preprovision] AUTH_CLIENT_ID=${app_id}; assign app roles next (docs/deploy.md)"
