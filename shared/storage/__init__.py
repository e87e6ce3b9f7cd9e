"""Talking to Azure Storage: clients and containers, run leases, and JSON state blobs guarded by their ETag.

The platform layer: it imports no job package (export, actions, webhooks, context, ocsf)."""
