"""Graph change notifications: which resources can be subscribed to, the subscription state, the webhook's checks,
the queue processor and the subscription upkeep. Importing this package imports nothing heavy."""
