"""HTTP actions for Logic Apps, SOAR playbooks and people: triage alerts and incidents, respond to risky users and
service principals, through Microsoft Graph.

- vocabulary: allowed values, valid classification/determination pairs, id shapes, limits (with sources)
- validation: every check made before a Graph call
- operations: the table of HTTP operations that both the function routes and the OpenAPI document are built from
- service: the actions themselves (Graph calls through GraphClient, audit trail, Idempotency-Key store)
- errors: Graph errors mapped to problem+json
- caller, audit, idempotency, openapi: as named
"""
