"""National clouds: one table of Graph roots and token authorities.

Source: docs/graph-notes.md, "Clouds". The security (alerts_v2, incidents) and Identity Protection APIs are not
offered by Microsoft Graph in China (21Vianet), so that cloud is known only to refuse it with a clear message.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cloud:
    name: str
    graph_root: str
    authority_host: str
    supports_security_apis: bool = True
    # The audience of a managed identity token used as a federated identity credential (Entra accepts exactly one
    # per cloud).
    federation_audience: str = "api://AzureADTokenExchange"


CLOUDS: dict[str, Cloud] = {
    cloud.name.lower(): cloud
    for cloud in (
        Cloud("Global", "https://graph.microsoft.com", "https://login.microsoftonline.com"),
        Cloud("USGov", "https://graph.microsoft.us", "https://login.microsoftonline.us",
              federation_audience="api://AzureADTokenExchangeUSGov"),
        Cloud("USGovDoD", "https://dod-graph.microsoft.us", "https://login.microsoftonline.us",
              federation_audience="api://AzureADTokenExchangeUSGov"),
        Cloud(
            "China",
            "https://microsoftgraph.chinacloudapi.cn",
            "https://login.chinacloudapi.cn",
            supports_security_apis=False,
            federation_audience="api://AzureADTokenExchangeChina",
        ),
    )
}


def cloud_by_name(name: str) -> Cloud | None:
    """The cloud whose name matches case-insensitively, or None."""
    return CLOUDS.get(name.strip().lower())
