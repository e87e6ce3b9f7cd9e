"""A Microsoft Graph simulator for local development and tests (never imported by production code).

    from local.graphsim import GraphSimulator, SimConfig
    with GraphSimulator(SimConfig(alerts=5000)) as sim:
        ...  # sim.base_url, sim.tenants, sim.client_id, sim.client_secret

See README.md in this folder.
"""

from .config import SimConfig
from .notifier import DeliveryRecord
from .simulator import GraphSimulator, RequestRecord

__all__ = ["DeliveryRecord", "GraphSimulator", "RequestRecord", "SimConfig"]
