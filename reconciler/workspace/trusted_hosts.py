"""Where real credentials and the tokens they buy may be sent: Microsoft's clouds, loopback, or hosts the
job's environment trusts.

``reconciler.yaml`` is repository content, and pull-request plans run it with the tenants' secrets in the
environment. A pull request that pointed ``authority_base_url`` or ``graph_base_url`` at a server of its
own would otherwise receive a client secret, a signed client assertion or an access token. So a
credential that is not the emulator's own is used only with the sign-in and Graph hosts of Microsoft's
national clouds, a loopback address (the emulator), or the hosts listed in ``RECONCILER_TRUSTED_HOSTS``,
which only whoever runs the job can set.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from urllib.parse import urlsplit

TRUSTED_HOSTS_ENV = "RECONCILER_TRUSTED_HOSTS"

# Microsoft Entra sign-in and Microsoft Graph, global and national clouds.
MICROSOFT_AUTHORITIES = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoftonline.us",
        "login.chinacloudapi.cn",
        "login.partner.microsoftonline.cn",
    }
)
MICROSOFT_GRAPH = frozenset(
    {"graph.microsoft.com", "graph.microsoft.us", "dod-graph.microsoft.us", "microsoftgraph.chinacloudapi.cn"}
)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def untrusted(url: str, known: frozenset[str], env: Mapping[str, str]) -> str | None:
    """The host of ``url`` if a real credential or token must not be sent there, else None."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if host in known or is_loopback(host):
        return None
    extra = {h.strip().lower().rstrip(".") for h in env.get(TRUSTED_HOSTS_ENV, "").split(",") if h.strip()}
    return None if host in extra else host or url


def refusal(role: str, field: str, url: str, host: str) -> str:
    return (
        f"{role}: refusing to send this tenant's credential or token to {host} ({field} {url}): real credentials "
        f"go only to Microsoft's sign-in and Graph endpoints or a loopback emulator. If this host is yours, list it "
        f"in {TRUSTED_HOSTS_ENV} in the job's environment (not in the repository)"
    )
