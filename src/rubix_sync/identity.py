"""Who this machine is: a name and, when known, its public IP (``Name (IP)`` in every message).

The name comes from settings, else the host name. The IP comes from settings, else (unless
detection is off) from the first configured HTTP endpoint that answers a valid address within a
short timeout. Tests and ``demo`` switch detection off, so nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from .config import Settings
from .errors import redact

log = logging.getLogger("rubix_sync.sync")


@dataclass(frozen=True, slots=True)
class Identity:
    machine_name: str
    public_ip: str | None

    def label(self) -> str:
        """``Name (IP)``, or just ``Name`` when the IP is unknown (never ``Name ()``)."""
        return f"{self.machine_name} ({self.public_ip})" if self.public_ip else self.machine_name


def detect_public_ip(endpoints: Sequence[str], timeout: float = 2.0) -> str | None:
    """Ask each endpoint in turn; return the first valid IP address answered, else None."""
    for url in endpoints:
        try:
            resp = httpx.get(url, timeout=timeout, follow_redirects=False)
            text = resp.text.strip()
            if resp.status_code == 200:
                return str(ipaddress.ip_address(text))
        except (httpx.HTTPError, ValueError) as exc:
            log.debug("public IP endpoint %s failed: %s", redact(url), redact(exc))
    return None


def resolve_identity(settings: Settings) -> Identity:
    name = settings.machine_name or socket.gethostname() or "unknown"
    ip = settings.public_ip
    if ip is None and settings.detect_public_ip and settings.ip_endpoints:
        ip = detect_public_ip(settings.ip_endpoints)
    return Identity(machine_name=name, public_ip=ip)
