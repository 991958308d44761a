#!/bin/sh
# Creates the Event Grid subscriptions (infra/eventSubscriptions.bicep) once the code is deployed:
# their webhook URL needs the host's eventgrid_extension system key, which the host creates when it
# first starts with an Event Grid trigger. azd passes main.bicep's outputs as environment variables.
set -eu

host="https://$(az functionapp show -g "$AZURE_RESOURCE_GROUP" -n "$KEYROTOR_FUNCTION_APP_NAME" --query defaultHostName -o tsv)"

# Flex Consumption scales to zero: wake the host (anonymous health route), then wait for the key.
key=""
attempt=0
while [ -z "$key" ] && [ "$attempt" -lt 30 ]; do
  curl -s -o /dev/null "${host}/api/health" || true
  key=$(az functionapp keys list -g "$AZURE_RESOURCE_GROUP" -n "$KEYROTOR_FUNCTION_APP_NAME" \
    --query "systemKeys.eventgrid_extension" -o tsv 2>/dev/null || true)
  [ -n "$key" ] || { attempt=$((attempt + 1)); sleep 10; }
done
if [ -z "$key" ]; then
  echo "[keyrotor] [postdeploy] the host has no eventgrid_extension key after 5 minutes; is keyVaultEvents deployed? Re-run: azd hooks run postdeploy" >&2
  exit 1
fi

echo "[keyrotor] [postdeploy] subscribing keyVaultEvents to ${KEYROTOR_SYSTEM_TOPICS}"
# A deployment name has at most 64 characters, and an azd environment name alone may have 64.
deployment_name="$(printf '%s' "keyrotor-eventgrid-${AZURE_ENV_NAME}" | cut -c1-64)"
az deployment sub create \
  --name "$deployment_name" \
  --location "$AZURE_LOCATION" \
  --template-file infra/eventSubscriptions.bicep \
  --parameters \
    appResourceGroup="$AZURE_RESOURCE_GROUP" \
    functionAppName="$KEYROTOR_FUNCTION_APP_NAME" \
    systemTopics="$KEYROTOR_SYSTEM_TOPICS" \
    deadLetterStorageId="$KEYROTOR_DEADLETTER_STORAGE_ID" \
    deadLetterContainer="$KEYROTOR_DEADLETTER_CONTAINER" \
    eventGridIdentityId="$KEYROTOR_EVENTGRID_IDENTITY_ID" \
  --output none
echo "[keyrotor] [postdeploy] Event Grid subscriptions in place (validation handshake answered by the host)"
