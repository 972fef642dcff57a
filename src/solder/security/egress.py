"""Refuse outbound requests to internal addresses (SSRF), checked on the address actually dialled.

The URLs of the "HTTP request" and "Stream Data" blocks come from end users and mappings, so
without a guard anyone who can build a workflow can make the server call its own admin ports,
the database on the private network or the cloud metadata service (which hands out credentials).

Checking the URL's host name is not enough: a name can resolve to a public address when checked
and to ``10.0.0.5`` a moment later when the client resolves it again (DNS rebinding). So the
check lives in the network backend of the HTTP client, at connect time:

1. ``_GuardedBackend.connect_tcp`` (and ``open_socket``, the same for the keep-alive pool of
   ``GuardedClient.send_once``) gets the host from the connection pool and turns it into
   addresses exactly once: an IP literal (including the odd IPv4 spellings ``2130706433``,
   ``0x7f.1``, ``127.1`` that the C library would accept) is used as is, any other name goes
   through the resolver (``socket.getaddrinfo`` unless a test injects one);
2. every address is checked by :meth:`EgressPolicy.check_address`; one refused address refuses
   the whole host;
3. the TCP connection is opened to the checked address literal, never to the name, so nothing
   is resolved twice. TLS still runs against the original name (SNI and certificate check),
   because the pool only hands the TCP connect to the backend.

Redirects: the guarded client does not follow them unless asked (``follow_redirects=False`` by
default, like the client it replaces). When it does, each hop is a new request through the same
transport, so a redirect to a private address or to a non-http(s) scheme is refused the same way.

Limitations: the client is synchronous only; name resolution has no timeout of its own (as
with the stock client); environment proxies are ignored, because a proxy would make the check
see the proxy's address instead of the target's.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import httpcore2
import httpx2

from solder.config import EgressSettings
from solder.errors import BadInput, FatalError
from solder.security.keepalive import KeepAlivePool

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[str]]
"""``(host, port) -> addresses`` in the order to try them; raises ``OSError`` on failure."""

HINT = "allow it with SOLDER_EGRESS__ALLOW_HOSTS or SOLDER_EGRESS__ALLOW_NETWORKS"
SCHEMES = ("http", "https")


class EgressRefused(FatalError):
    """An outbound request was refused before any connection was made.

    It is a ``FatalError`` (not an ``httpx2`` transport error) so that the engine fails the
    block at once with this message instead of retrying a request that can never be allowed.
    """

    code = "egress_refused"

    def __init__(self, reason: str, *, url: str | None = None, hint: bool = True) -> None:
        message = f"{url}: refused, {reason}" if url else f"refused, {reason}"
        super().__init__(f"{message}; {HINT}" if hint else message)
        self.reason = reason
        self.url = url
        self.hint = hint


_METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, DigitalOcean, OpenStack, Oracle, Hetzner
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.170.23",  # AWS EKS pod identity
        "169.254.0.23",  # Tencent Cloud
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud (classic)
        "168.63.129.16",  # Azure WireServer: a public address that only the host answers
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd00:ec2::23",  # AWS EKS pod identity over IPv6
    )
)


def _nets(*pairs: tuple[str, str]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ipaddress.ip_network(net), why) for net, why in pairs)


_V4_REFUSED = _nets(
    ("0.0.0.0/8", "unspecified address"),
    ("127.0.0.0/8", "loopback address"),
    ("10.0.0.0/8", "private address"),
    ("172.16.0.0/12", "private address"),
    ("192.168.0.0/16", "private address"),
    ("169.254.0.0/16", "link-local address"),
    ("100.64.0.0/10", "carrier-grade NAT address"),
    ("224.0.0.0/4", "multicast address"),
    ("240.0.0.0/4", "reserved address"),
)
_V6_REFUSED = _nets(
    ("::/128", "unspecified address"),
    ("::1/128", "loopback address"),
    ("fc00::/7", "private address (unique local)"),
    ("fe80::/10", "link-local address"),
    ("fec0::/10", "private address (site-local)"),
    ("ff00::/8", "multicast address"),
    ("64:ff9b:1::/48", "local-use NAT64 address"),
)
_V4_MAPPED = ipaddress.ip_network("::ffff:0:0/96")
_V4_COMPATIBLE = ipaddress.ip_network("::/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_v4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address an IPv6 address stands for, when the packet would end up there."""
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _V4_MAPPED:
        return low32, "an IPv4-mapped IPv6 address"
    if ip in _V4_COMPATIBLE:
        return low32, "an IPv4-compatible IPv6 address"
    if ip in _NAT64:
        return low32, "a NAT64 address"
    if ip.sixtofour is not None:
        return ip.sixtofour, "a 6to4 address"
    return None


def refusal_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` may not be dialled, or None when it is a public address."""
    if ip in _METADATA:
        return "cloud metadata address"
    table = _V4_REFUSED if isinstance(ip, ipaddress.IPv4Address) else _V6_REFUSED
    for net, why in table[:2]:  # :: and ::1 sit inside ::/96, so they go first
        if ip in net:
            return why
    if isinstance(ip, ipaddress.IPv6Address) and (inner := _embedded_v4(ip)) is not None:
        v4, kind = inner
        why_v4 = refusal_reason(v4)
        return None if why_v4 is None else f"{why_v4} {v4} inside {kind}"
    for net, why in table[2:]:
        if ip in net:
            return why
    return None if ip.is_global else "reserved address"


_IPV4_SPELLING = frozenset("0123456789abcdefxABCDEFX.")


def parse_literal(host: str) -> IPAddress | None:
    """The address ``host`` spells, read the way the C library reads it, or None for a name.

    ``inet_aton`` accepts ``2130706433``, ``0x7f.1``, ``0177.0.0.1`` and ``127.1``; treating
    them as literals here keeps the check from depending on what the resolver makes of them.
    """
    bare = host.strip("[]").removesuffix(".")
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    if not bare or not set(bare) <= _IPV4_SPELLING:
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(bare))
    except OSError:
        return None


def system_resolver(host: str, port: int) -> list[str]:
    """Resolve ``host`` with the OS resolver: its addresses, first-seen order, no repeats."""
    found: list[str] = []
    for family, _, _, _, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = str(sockaddr[0])
        if family in (socket.AF_INET, socket.AF_INET6) and address not in found:
            found.append(address)
    return found


def _normal_host(host: str) -> str:
    return host.strip("[]").removesuffix(".").lower()


@dataclass(frozen=True)
class EgressPolicy:
    """Which hosts and networks are allowed although their addresses are internal.

    ``allow_hosts`` holds exact names (``receiver.internal``) and ``*.suffix`` entries, which
    allow any subdomain of ``suffix`` but not ``suffix`` itself. A host listed here is allowed
    whatever it resolves to; ``allow_networks`` allows addresses inside those ranges.
    """

    allow_hosts: tuple[str, ...] = ()
    allow_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(cls, settings: EgressSettings) -> EgressPolicy:
        """Build the policy; a malformed entry fails start-up rather than allowing too much."""
        hosts = []
        for entry in settings.allow_hosts:
            host = _normal_host(entry.strip())
            if not host or "*" in host.removeprefix("*."):
                raise BadInput(
                    f"egress.allow_hosts: {entry!r} is not a host name or *.suffix",
                    field="egress.allow_hosts",
                )
            hosts.append(host)
        networks = []
        for entry in settings.allow_networks:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError as exc:
                raise BadInput(
                    f"egress.allow_networks: {entry!r} is not an address range (e.g. 10.0.0.0/8)",
                    field="egress.allow_networks",
                ) from exc
        return cls(allow_hosts=tuple(hosts), allow_networks=tuple(networks))

    def allows_host(self, host: str) -> bool:
        name = _normal_host(host)
        for entry in self.allow_hosts:
            if entry.startswith("*."):
                if name.endswith(entry[1:]):  # ".suffix": the dot keeps "suffix" itself out
                    return True
            elif name == entry:
                return True
        return False

    def _allows_address(self, ip: IPAddress) -> bool:
        candidates: list[IPAddress] = [ip]
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            candidates.append(ip.ipv4_mapped)
        return any(c in net for c in candidates for net in self.allow_networks)

    def check_address(self, host: str, address: str) -> None:
        """Raise :class:`EgressRefused` unless ``host`` may be reached at ``address``."""
        if self.allows_host(host):
            return
        where = (
            f"address {address}"
            if parse_literal(host) is not None
            else f"{host} resolves to {address}"
        )
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            raise EgressRefused(f"{where}, which is not an IP address") from None
        if self._allows_address(ip):
            return
        why = refusal_reason(ip)
        if why is not None:
            raise EgressRefused(f"{where} ({why})")


class _GuardedBackend(httpcore2.SyncBackend):
    """The stock socket backend, given only addresses the policy has checked."""

    def __init__(self, policy: EgressPolicy, resolver: Resolver) -> None:
        self._policy = policy
        self._resolver = resolver

    def _addresses(self, host: str, port: int) -> list[str]:
        literal = parse_literal(host)
        if literal is not None:
            return [str(literal)]
        try:
            found = list(self._resolver(host, port))
        except OSError as exc:  # a DNS failure may pass: it stays a retryable connect error
            raise httpcore2.ConnectError(f"{host}: cannot resolve: {exc}") from exc
        if not found:
            raise httpcore2.ConnectError(f"{host}: resolves to no address")
        return found

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.NetworkStream:
        addresses = self._addresses(host, port)
        for address in addresses:
            self._policy.check_address(host, address)
        failure: httpcore2.ConnectError | httpcore2.ConnectTimeout | None = None
        for address in addresses:  # a literal, so the stock backend does no DNS lookup
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # _addresses never returns an empty list
        raise failure

    def open_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        """``connect_tcp`` for the keep-alive pool: the same checks, a plain socket back."""
        addresses = self._addresses(host, port)
        for address in addresses:
            self._policy.check_address(host, address)
        failure: httpx2.TransportError | None = None
        for address in addresses:
            try:
                return socket.create_connection((address, port), timeout)
            except TimeoutError as exc:
                failure = httpx2.ConnectTimeout(f"{host}: connect timed out after {timeout} s")
                failure.__cause__ = exc
            except OSError as exc:
                failure = httpx2.ConnectError(f"{host}: {exc}")
                failure.__cause__ = exc
        assert failure is not None  # _addresses never returns an empty list
        raise failure


def _shown(url: httpx2.URL) -> str:
    """The URL for messages and logs, without credentials or a query that may carry tokens."""
    return str(url.copy_with(username=None, password=None, query=None, fragment=None))


class _GuardedTransport(httpx2.HTTPTransport):
    """``HTTPTransport`` takes no network backend, so its pool is rebuilt around the guard."""

    def __init__(self, backend: _GuardedBackend, ssl_context: ssl.SSLContext) -> None:
        limits = httpx2.Limits()
        super().__init__(verify=ssl_context, trust_env=False, limits=limits)
        self.pool = httpcore2.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )
        self._pool = self.pool  # HTTPTransport.handle_request sends through ``_pool``

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        url = _shown(request.url)
        if request.url.scheme not in SCHEMES:
            reason = f"scheme {request.url.scheme!r} is not allowed, only http and https"
            raise EgressRefused(reason, url=url, hint=False)
        try:
            return super().handle_request(request)
        except EgressRefused as exc:  # raised in the backend, which never sees the URL
            raise EgressRefused(exc.reason, url=url, hint=exc.hint) from exc


class GuardedClient(httpx2.Client):
    """The guarded client, with a lean path for one-shot requests (``send_once``)."""

    def __init__(
        self,
        transport: _GuardedTransport,
        oneshot: KeepAlivePool,
        *,
        timeout: float,
        follow_redirects: bool,
    ) -> None:
        super().__init__(
            transport=transport, timeout=timeout, follow_redirects=follow_redirects,
            trust_env=False,
        )  # fmt: skip
        self._oneshot = oneshot

    def close(self) -> None:
        self._oneshot.close()
        super().close()

    def __exit__(self, *exc: Any) -> None:  # httpx2 closes only the transport on exit
        self._oneshot.close()
        super().__exit__(*exc)

    def send_once(
        self, method: str, url: str, *, headers: dict[str, str], content: bytes
    ) -> httpx2.Response:
        """``method url`` with ``content``, read whole, on the keep-alive pool.

        The same connect-time checks and refusals as ``request`` (the pool's sockets come from
        the guarded backend) and the same errors (``EgressRefused``, ``httpx2.InvalidURL``,
        ``httpx2.TransportError`` subclasses); no redirects followed, no cookies, no default
        headers. It costs less than half the CPU of ``request`` (``security/keepalive.py``):
        Stream Data sends one POST per run.
        """
        target = _target(url)
        try:
            answer = self._oneshot.request(
                target.scheme, target.host, target.port, method, target.path,
                {"Host": target.netloc, **headers}, content,
            )  # fmt: skip
        except EgressRefused as exc:  # raised in the backend, which never sees the URL
            raise EgressRefused(exc.reason, url=target.shown, hint=exc.hint) from exc
        except httpcore2.ConnectError as exc:  # a name that does not resolve
            raise httpx2.ConnectError(str(exc)) from exc
        return httpx2.Response(answer.status, headers=answer.headers, content=answer.content)


class _Target(NamedTuple):
    scheme: str
    host: str
    port: int
    path: str
    netloc: str
    shown: str


@functools.lru_cache(maxsize=512)
def _target(url: str) -> _Target:
    """A URL taken apart for ``send_once`` (Stream Data posts to few URLs, many times)."""
    parsed = httpx2.URL(url)
    shown = _shown(parsed)
    if parsed.scheme not in SCHEMES:
        reason = f"scheme {parsed.scheme!r} is not allowed, only http and https"
        raise EgressRefused(reason, url=shown, hint=False)
    if not parsed.raw_host:
        raise httpx2.InvalidURL(f"{shown}: no host")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return _Target(
        parsed.scheme, parsed.raw_host.decode("ascii"), port, parsed.raw_path.decode("ascii"),
        parsed.netloc.decode("ascii"), shown,
    )  # fmt: skip


def guarded_client(
    policy: EgressPolicy,
    *,
    timeout: float,
    follow_redirects: bool = False,
    resolver: Resolver = system_resolver,
    ssl_context: ssl.SSLContext | None = None,
) -> GuardedClient:
    """An ``httpx2.Client`` that refuses internal addresses on every connection it opens.

    Refusals surface from ``client.request(...)`` as :class:`EgressRefused`. ``resolver`` and
    ``ssl_context`` are seams for tests; by default the OS resolver and httpx2's trust store
    (which honours ``SSL_CERT_FILE``) are used.
    """
    context = ssl_context if ssl_context is not None else httpx2.create_ssl_context()
    backend = _GuardedBackend(policy, resolver)
    transport = _GuardedTransport(backend, context)
    oneshot = KeepAlivePool(backend.open_socket, context, timeout)
    return GuardedClient(transport, oneshot, timeout=timeout, follow_redirects=follow_redirects)
