"""OCSF rendition of the export: each exported Graph object also as an Open Cybersecurity Schema Framework event.

- table.py: the words mapping tables are written in (Row, const, copy, timestamp, derived) and `apply`;
- enums.py: Graph enumerations onto OCSF ids, unknown members included;
- alerts.py, incidents.py, risk_detections.py, risky_users.py: one mapping table per stream and OCSF class;
- evidence.py: alert evidence onto evidences[], observables[] and resources[];
- render.py: one object -> one event (the shared metadata, unmapped and raw_data);
- output.py: the OCSF blobs written beside the export's own, in the same commit step.
"""
