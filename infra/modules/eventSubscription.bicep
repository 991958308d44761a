// One vault's subscription to keyVaultEvents. The filter is exactly the event types the function
// handles (lib/domain/keyVaultEventTypes.ts; a test holds this list to it): nothing is delivered
// that keyrotor would only ignore.
param systemTopicName string
@secure()
param endpointUrl string
param deadLetterStorageId string
param deadLetterContainer string
param eventGridIdentityId string

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: systemTopicName
}

resource subscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: topic
  name: 'keyrotor-keyvault-events'
  properties: {
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: endpointUrl
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        'Microsoft.KeyVault.KeyNearExpiry'
        'Microsoft.KeyVault.KeyExpired'
        'Microsoft.KeyVault.KeyNewVersionCreated'
        'Microsoft.KeyVault.SecretNearExpiry'
        'Microsoft.KeyVault.SecretExpired'
        'Microsoft.KeyVault.CertificateNearExpiry'
        'Microsoft.KeyVault.CertificateExpired'
      ]
    }
    // Redelivery is safe (rotationId = keyId@expiry:version starts nothing twice), so retry for
    // the whole day Event Grid allows; a NearExpiry event arrives ~30 days before expiry anyway.
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    // Events that exhaust their retries, and the ones the function rejects as malformed (a 400 is
    // not retried), land here as blobs — written by the Event Grid identity, not with a key.
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'UserAssigned'
        userAssignedIdentity: eventGridIdentityId
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterStorageId
          blobContainerName: deadLetterContainer
        }
      }
    }
  }
}

output subscriptionName string = subscription.name
