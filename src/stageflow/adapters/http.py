"""Webhooks over real HTTP: where a request may go (no private, loopback or link-local
targets unless the workspace allow-lists them), how it is signed, and what its answer means
for a retry.

The target's host is resolved once, checked, and the request is sent to the address that was
checked (with the original Host header and TLS server name), so a DNS answer that changes
between the check and the connection cannot redirect it inside the network. Redirects are
not followed: a 3xx is an answer, and following it would skip the check.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

SIGNATURE_HEADER = "X-Stageflow-Signature"
TIMESTAMP_HEADER = "X-Stageflow-Timestamp"
MAX_RESPONSE_KEPT = 2000
MAX_RESPONSE_READ = 64 * 1024
DEFAULT_TIMEOUT = 10.0
MAX_TIMEOUT = 30.0


class TargetRefused(ValueError):
    """A URL stageflow will not send to; the message says why and what to do."""


class LookupFailed(Exception):
    """The host name could not be resolved just now (worth trying again later)."""


def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (system resolver)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        if exc.errno in (socket.EAI_AGAIN, getattr(socket, "EAI_SYSTEM", None)):
            raise LookupFailed(f"cannot resolve {host!r} just now: {exc.strerror}") from None
        raise TargetRefused(f"cannot resolve {host!r}: {exc.strerror}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _inside(address: IPAddress) -> str | None:
    """Why an address is inside a private network, or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_unspecified or address.is_multicast:
        return "not a public unicast address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "not a public unicast address"
    return None


@dataclass(frozen=True)
class AllowList:
    """Hosts and networks a workspace lets webhooks reach although they are not public."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        hosts: set[str] = set()
        networks = []
        for entry in entries:
            text = entry.strip()
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                if not text or "/" in text or " " in text:
                    raise ValueError(f"{entry!r} is neither a host name nor an address") from None
                hosts.add(text.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def allows(self, host: str, address: IPAddress) -> bool:
        return host.lower().rstrip(".") in self.hosts or any(
            address in network for network in self.networks
        )


@dataclass(frozen=True)
class Target:
    """A checked URL: the address to connect to, and the host the request names."""

    url: str
    host: str
    address: str
    port: int
    scheme: str

    def connect_url(self) -> str:
        """The URL with its host replaced by the checked address."""
        parts = urlsplit(self.url)
        literal = f"[{self.address}]" if ":" in self.address else self.address
        netloc = f"{literal}:{self.port}"
        return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


def check_url(url: str) -> tuple[str, str, int]:
    """Scheme, host and port of a URL webhooks may use (syntax only; see check_target)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"{url!r} is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefused(f"a webhook URL must start with http:// or https://, not {url!r}")
    if not parts.hostname:
        raise TargetRefused(f"{url!r} names no host")
    if parts.username or parts.password:
        raise TargetRefused("put credentials in a header, not in the URL")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def check_target(url: str, allow: AllowList, resolver: Resolver = resolve) -> Target:
    """Resolve the URL's host and refuse it if any address it has is not public and not
    allow-listed (a host with one public and one private address is refused)."""
    scheme, host, port = check_url(url)
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        addresses = [ipaddress.ip_address(a.split("%")[0]) for a in resolver(host, port)]
    if not addresses:
        raise TargetRefused(f"{host!r} has no address")
    for address in addresses:
        why = _inside(address)
        if why is not None and not allow.allows(host, address):
            raise TargetRefused(
                f"refused to send to {host} ({address}): it is {why}. If this is meant, add "
                f"{host if host != str(address) else address} to the workspace's "
                "webhook_allowlist"
            )
    return Target(url=url, host=host, address=str(addresses[0]), port=port, scheme=scheme)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``v1=<hex HMAC-SHA256 of "<timestamp>.<body>">``: what receivers recompute."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


@dataclass
class Delivery:
    """What one attempt came to. ``retryable`` failures are tried again later."""

    ok: bool
    retryable: bool = False
    error: str | None = None
    status_code: int | None = None
    response: str | None = None
    retry_after: float | None = None
    info: dict[str, Any] = field(default_factory=dict)


def post(
    target: Target,
    *,
    method: str,
    headers: Mapping[str, str],
    body: bytes,
    timeout: float,
    client: httpx.Client | None = None,
) -> Delivery:
    """Send one request to a checked target and classify the answer: 2xx delivered; 429,
    5xx, timeouts and connection failures retryable; anything else (other 4xx, 3xx) final."""
    sent_headers = {**headers, "Host": _host_header(target)}
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    own = client is None
    http = client or httpx.Client(follow_redirects=False, trust_env=False)
    # httpx's timeout is per network operation; a server dripping its answer a byte at a
    # time would hold the worker for ever. The whole exchange gets ``timeout`` seconds, and
    # only the start of the answer is read.
    deadline = time.monotonic() + timeout
    late = Delivery(ok=False, retryable=True, error=f"no answer within {timeout:g} s")
    try:
        with http.stream(
            method,
            target.connect_url(),
            headers=sent_headers,
            content=body,
            timeout=timeout,
            extensions=extensions,
        ) as response:
            kept = b""
            for chunk in response.iter_bytes():
                if len(kept) < MAX_RESPONSE_READ:
                    kept += chunk[: MAX_RESPONSE_READ - len(kept)]
                if time.monotonic() > deadline:
                    return late
                if len(kept) >= MAX_RESPONSE_READ:
                    break
            code = response.status_code
            reason = response.reason_phrase
            retry_header = response.headers.get("Retry-After")
    except httpx.TimeoutException:
        return late
    except httpx.HTTPError as exc:
        return Delivery(ok=False, retryable=True, error=f"could not connect: {exc}")
    finally:
        if own:
            http.close()
    text = kept.decode("utf-8", errors="replace")[:MAX_RESPONSE_KEPT]
    if 200 <= code < 300:
        return Delivery(ok=True, status_code=code, response=text)
    retryable = code == 429 or code >= 500
    return Delivery(
        ok=False,
        retryable=retryable,
        error=f"the server answered {code} {reason}".rstrip(),
        status_code=code,
        response=text,
        retry_after=_retry_after(retry_header) if retryable else None,
    )


def _host_header(target: Target) -> str:
    default = 443 if target.scheme == "https" else 80
    host = f"[{target.host}]" if ":" in target.host else target.host
    return host if target.port == default else f"{host}:{target.port}"


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header given in seconds (dates are ignored)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if 0 <= seconds <= 86_400 else None
