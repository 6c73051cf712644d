"""Checks for integration settings. Each returns the cleaned value or raises ValueError
with a message meant for the operator (the caller attaches the field name)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

# Names that cloud providers answer on with instance credentials.
METADATA_HOSTS = {"metadata.google.internal", "metadata.goog", "metadata", "instance-data"}
METADATA_ADDRESSES = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack
    ipaddress.ip_address("fd00:ec2::254"),  # AWS IPv6
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
}


def integration_url(raw: str) -> str:
    """An http(s) URL with a host. Private and loopback addresses are fine (Lidarr usually
    lives on the LAN); link-local, cloud metadata, unspecified and multicast are not."""
    value = raw.strip()
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as error:
        raise ValueError(f"is not a valid URL ({error})") from error
    if parts.scheme not in ("http", "https"):
        raise ValueError("must start with http:// or https://")
    if not parts.hostname:
        raise ValueError("must name a host, e.g. http://lidarr:8686")
    if parts.username or parts.password:
        raise ValueError("must not contain credentials; use the API key field")
    if parts.query or parts.fragment:
        raise ValueError("must not contain a query string or fragment")
    host = parts.hostname.lower().rstrip(".")
    if host in METADATA_HOSTS:
        raise ValueError("points at a cloud metadata service, which is not allowed")
    for address in _addresses(host, port):
        _check_address(address)
    return value.rstrip("/")


def _addresses(host: str, port: int | None) -> list[ipaddress._BaseAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:  # a name: judge what it resolves to now; unresolvable names are allowed
        infos = socket.getaddrinfo(host, port or 80, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


def _check_address(address: ipaddress._BaseAddress) -> None:
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    if address in METADATA_ADDRESSES:
        raise ValueError("points at a cloud metadata service, which is not allowed")
    if address.is_link_local:
        raise ValueError(f"points at a link-local address ({address}), which is not allowed")
    if address.is_unspecified or address.is_multicast:
        raise ValueError(f"points at {address}, which is not a host")


def absolute_path(raw: str) -> str:
    value = raw.strip()
    if not value.startswith("/"):
        raise ValueError("must be an absolute path, e.g. /downloads/soulseek")
    if "\x00" in value or any(part == ".." for part in value.split("/")):
        raise ValueError("must not contain '..' or NUL")
    return value.rstrip("/") or "/"
