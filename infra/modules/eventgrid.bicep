// Optional SIEM hook: an Event Grid system topic on the data storage account publishes BlobCreated events for the
// export container to a Storage queue. Queue-driven SIEM readers pick up exactly the new files instead of listing
// the container. Delivery uses the system topic's own managed identity (Queue Data Message Sender on that one
// queue): no keys or SAS.

@description('System topic name.')
param name string

@description('Region of the storage account (a system topic lives in its source region).')
param location string

@description('Tags for the topic.')
param tags object = {}

@description('Data storage account name.')
param storageAccountName string

@description('Container whose new blobs are announced.')
param exportContainerName string

@description('Queue that receives the events (created by the storage module).')
param queueName string

@description('Resource id of the Log Analytics workspace that receives the delivery failures.')
param logAnalyticsWorkspaceId string

var queueMessageSenderRole = 'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource queue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' existing = {
  parent: queueService
  name: queueName
}

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: name
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: storage.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

resource topicQueueSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(queue.id, topic.id, queueMessageSenderRole)
  scope: queue
  properties: {
    principalId: topic.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', queueMessageSenderRole)
  }
}

resource exportCreated 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: topic
  name: 'export-blob-created'
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        'Microsoft.Storage.BlobCreated'
      ]
      subjectBeginsWith: '/blobServices/default/containers/${exportContainerName}/blobs/'
    }
    deliveryWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      destination: {
        endpointType: 'StorageQueue'
        properties: {
          resourceId: storage.id
          queueName: queueName
          // -1: messages never expire in the queue; a SIEM that is down for a week still finds every file.
          queueMessageTimeToLiveInSeconds: -1
        }
      }
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
  }
  dependsOn: [
    // Event Grid checks that it can write to the queue when the subscription is created.
    topicQueueSender
  ]
}

// Events Event Grid could not deliver to the queue (DeliveryFailures) and the delivery metrics.
resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: topic
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        categoryGroup: 'allLogs'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

output name string = topic.name
output queueUrl string = '${storage.properties.primaryEndpoints.queue}${queueName}'
