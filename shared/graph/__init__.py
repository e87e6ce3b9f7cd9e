"""Talking to Microsoft Graph: the client, its retry policy and pacing, credentials, clouds, and Graph's data rules.

The platform layer: it imports no job package (export, actions, webhooks, context, ocsf)."""
