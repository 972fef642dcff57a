"""The egress guard refuses internal addresses at connect time, on the address it dials.

No test reaches the internet: refused addresses are refused before any socket opens, and the
allowed ones are loopback servers started here. Names resolve through fake resolvers.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from solder.apps import http
from solder.config import EgressSettings
from solder.errors import BadInput, FatalError
from solder.security.egress import (
    HINT,
    EgressPolicy,
    EgressRefused,
    guarded_client,
    system_resolver,
)
from tests.servers import run_asgi

NOTHING_ALLOWED = EgressPolicy()
LOOPBACK_ONLY = EgressPolicy.from_settings(EgressSettings(allow_networks=["127.0.0.1/32"]))


def no_resolver(host: str, port: int) -> Sequence[str]:
    raise AssertionError(f"{host} is an address literal: nothing may resolve it")


def fixed(table: dict[str, list[str]]) -> Callable[[str, int], Sequence[str]]:
    def resolve(host: str, port: int) -> Sequence[str]:
        return table[host]

    return resolve


@dataclass
class Receiver:
    url: str
    port: int
    seen: list[tuple[str, str]] = field(default_factory=list)  # (path, Host header)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    seen: list[tuple[str, str]] = []

    async def hello(request: Request) -> Response:
        seen.append((request.url.path, request.headers["host"]))
        return JSONResponse({"hello": request.headers["host"]})

    async def redirect(request: Request) -> Response:
        seen.append((request.url.path, request.headers["host"]))
        return RedirectResponse(request.query_params["to"], status_code=302)

    app = Starlette(routes=[Route("/hello", hello), Route("/redirect", redirect)])
    with run_asgi(app) as url:
        yield Receiver(url=url, port=httpx2.URL(url).port or 80, seen=seen)


Sender = Callable[[httpx2.Client, str], httpx2.Response]
CLIENT: Sender = lambda client, url: client.get(url)  # noqa: E731
LEAN: Sender = lambda client, url: client.send_once("GET", url, headers={}, content=b"")  # noqa: E731


def refused(
    url: str,
    policy: EgressPolicy = NOTHING_ALLOWED,
    resolver: Callable[..., Sequence[str]] = no_resolver,
) -> EgressRefused:
    """The refusal of ``url``, the same through the client and through its lean path."""
    errors = []
    for send in (
        lambda client: client.get(url),
        lambda client: client.send_once("GET", url, headers={}, content=b""),
    ):
        with (
            guarded_client(policy, timeout=2, resolver=resolver) as client,
            pytest.raises(EgressRefused) as info,
        ):
            send(client)
        errors.append(info.value)
    assert errors[0].message == errors[1].message
    return errors[0]


# -- every class of internal address -----------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1/", "(loopback address)"),
        ("http://127.8.9.10:8080/", "(loopback address)"),
        ("http://[::1]/", "(loopback address)"),
        ("http://10.1.2.3/", "(private address)"),
        ("http://172.16.0.1/", "(private address)"),
        ("http://172.31.255.254/", "(private address)"),
        ("http://192.168.1.1/", "(private address)"),
        ("http://[fd12:3456::1]/", "(private address (unique local))"),
        ("http://[fc00::1]/", "(private address (unique local))"),
        ("http://169.254.1.1/", "(link-local address)"),
        ("http://[fe80::1]/", "(link-local address)"),
        ("http://100.64.0.1/", "(carrier-grade NAT address)"),
        ("http://100.127.255.254/", "(carrier-grade NAT address)"),
        ("http://0.0.0.0/", "(unspecified address)"),
        ("http://[::]/", "(unspecified address)"),
        ("http://224.0.0.1/", "(multicast address)"),
        ("http://[ff02::1]/", "(multicast address)"),
        ("http://240.0.0.1/", "(reserved address)"),
        ("http://255.255.255.255/", "(reserved address)"),
        ("http://192.0.2.10/", "(reserved address)"),
        ("http://169.254.169.254/latest/meta-data/", "(cloud metadata address)"),
        ("http://169.254.170.2/v2/credentials", "(cloud metadata address)"),
        ("http://[fd00:ec2::254]/latest/", "(cloud metadata address)"),
        ("http://100.100.100.200/latest/meta-data/", "(cloud metadata address)"),
        ("http://168.63.129.16/machine", "(cloud metadata address)"),
        ("http://[::ffff:127.0.0.1]/", "loopback address 127.0.0.1 inside an IPv4-mapped"),
        ("http://[::ffff:a9fe:a9fe]/", "metadata address 169.254.169.254 inside an IPv4-mapped"),
        ("http://[::127.0.0.1]/", "loopback address 127.0.0.1 inside an IPv4-compatible"),
        ("http://[64:ff9b::10.0.0.1]/", "private address 10.0.0.1 inside a NAT64 address"),
        ("http://[64:ff9b::7f00:1]/", "loopback address 127.0.0.1 inside a NAT64 address"),
        ("http://[2002:7f00:1::1]/", "loopback address 127.0.0.1 inside a 6to4 address"),
        ("http://[2002:c0a8:101::]/", "private address 192.168.1.1 inside a 6to4 address"),
        ("http://[64:ff9b:1::a00:1]/", "(local-use NAT64 address)"),
    ],
)
def test_internal_address_literals_are_refused(url: str, why: str) -> None:
    error = refused(url)
    assert why in error.message
    assert error.message.startswith(f"{url}: refused, address ")
    assert error.code == "egress_refused"


@pytest.mark.parametrize(
    "host",
    ["2130706433", "0x7f.1", "0x7f000001", "017700000001", "0177.0.1", "127.1", "0x7f.0.0.1"],
)
def test_odd_ipv4_spellings_of_loopback_are_refused_without_asking_the_resolver(host: str) -> None:
    error = refused(f"http://{host}/")
    assert "address 127.0.0.1 (loopback address)" in error.message


@pytest.mark.parametrize("host", ["2130706433", "0x7f.1", "0177.0.0.1", "127.1", "0x7f.0.0.1"])
def test_what_the_os_resolver_makes_of_odd_spellings_is_refused_too(host: str) -> None:
    # second line of defence: a resolver handed the odd spelling answers 127.0.0.1
    addresses = system_resolver(host, 80)
    assert addresses == ["127.0.0.1"]
    with pytest.raises(EgressRefused, match="loopback"):
        NOTHING_ALLOWED.check_address(host, addresses[0])


def test_zero_spelling_is_the_unspecified_address() -> None:
    assert "address 0.0.0.0 (unspecified address)" in refused("http://0/").message


def test_leading_zero_dotted_quad_never_reaches_a_socket() -> None:
    # httpx2 rejects 0177.0.0.1 when it parses the URL, before the transport runs
    with (
        guarded_client(NOTHING_ALLOWED, timeout=2, resolver=no_resolver) as client,
        pytest.raises(httpx2.InvalidURL),
    ):
        client.get("http://0177.0.0.1/")


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"]
)
def test_public_addresses_pass(address: str) -> None:
    NOTHING_ALLOWED.check_address("example.com", address)


# -- names, messages and what the caller sees -------------------------------------------------


def test_a_name_resolving_to_a_private_address_is_refused_with_a_message_naming_it() -> None:
    error = refused("https://x.example/hook", resolver=fixed({"x.example": ["10.0.0.5"]}))
    assert error.message == (
        "https://x.example/hook: refused, x.example resolves to 10.0.0.5 (private address); " + HINT
    )
    assert error.url == "https://x.example/hook"


def test_one_internal_address_among_several_refuses_the_host(receiver: Receiver) -> None:
    # the first address is an allowed, working server; the guard must still look at the second
    resolver = fixed({"mixed.test": ["127.0.0.1", "10.0.0.5"]})
    error = refused(f"http://mixed.test:{receiver.port}/hello", LOOPBACK_ONLY, resolver)
    assert "mixed.test resolves to 10.0.0.5 (private address)" in error.message
    assert receiver.seen == []


def test_message_leaves_out_credentials_and_query() -> None:
    error = refused("http://user:s3cret@10.0.0.5/x?token=abc123")
    assert error.message.startswith("http://10.0.0.5/x: refused")
    assert "s3cret" not in error.message
    assert "abc123" not in error.message


def test_unsupported_schemes_are_refused() -> None:
    error = refused("ftp://files.example/x")
    assert error.message == (
        "ftp://files.example/x: refused, scheme 'ftp' is not allowed, only http and https"
    )


def test_refusal_escapes_the_client_as_a_fatal_error_not_a_transport_error() -> None:
    with (
        guarded_client(NOTHING_ALLOWED, timeout=2, resolver=no_resolver) as client,
        pytest.raises(EgressRefused) as info,
    ):
        http.send(client, "POST", "http://169.254.169.254/", "stream data", content=b"{}")
    assert isinstance(info.value, FatalError)
    assert not isinstance(info.value, httpx2.HTTPError)


def test_a_name_that_does_not_resolve_stays_a_connect_error() -> None:
    def broken(host: str, port: int) -> Sequence[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with guarded_client(NOTHING_ALLOWED, timeout=2, resolver=broken) as client:
        with pytest.raises(httpx2.ConnectError, match=r"nowhere\.test: cannot resolve"):
            client.get("http://nowhere.test/")
        with pytest.raises(httpx2.ConnectError, match=r"nowhere\.test: cannot resolve"):
            client.send_once("POST", "http://nowhere.test/", headers={}, content=b"{}")


def test_the_lean_path_sends_the_host_header_and_keeps_the_guard(receiver: Receiver) -> None:
    url = f"http://localhost:{receiver.port}/hello?x=1"
    resolver = fixed({"localhost": ["127.0.0.1"]})
    with guarded_client(LOOPBACK_ONLY, timeout=5, resolver=resolver) as client:
        first = client.send_once("GET", url, headers={"X-Test": "1"}, content=b"")
        second = client.get(url)
        with pytest.raises(httpx2.InvalidURL):
            client.send_once("POST", "http://0177.0.0.1/", headers={}, content=b"")
        with pytest.raises(EgressRefused):  # allowed host, refused address: still refused
            client.send_once("POST", "http://10.0.0.5/hello", headers={}, content=b"")
    assert (first.status_code, first.json()) == (200, {"hello": f"localhost:{receiver.port}"})
    assert second.json() == first.json()
    assert receiver.seen == [("/hello", f"localhost:{receiver.port}")] * 2


# -- DNS rebinding: resolve once, dial the checked address -------------------------------------


@pytest.mark.parametrize("send", [CLIENT, LEAN], ids=["client", "lean"])
def test_rebinding_name_is_resolved_once_and_the_checked_address_dialled(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, send: Sender
) -> None:
    answers = iter([["127.0.0.1"], ["10.0.0.5"]])
    calls: list[str] = []

    def rebinding(host: str, port: int) -> Sequence[str]:
        calls.append(host)
        return next(answers)

    asked: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def spy(host: str, *args: object, **kwargs: object) -> object:
        asked.append(host)
        return real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", spy)
    url = f"http://rebind.test:{receiver.port}/hello"
    with guarded_client(LOOPBACK_ONLY, timeout=5, resolver=rebinding) as client:
        response = send(client, url)
    assert response.json() == {"hello": f"rebind.test:{receiver.port}"}
    assert calls == ["rebind.test"]
    assert "rebind.test" not in asked  # the socket was opened to the literal 127.0.0.1

    # the next connection resolves again and gets the rebound, private answer
    with (
        guarded_client(LOOPBACK_ONLY, timeout=5, resolver=rebinding) as client,
        pytest.raises(EgressRefused, match=r"rebind\.test resolves to 10\.0\.0\.5"),
    ):
        send(client, url)
    assert calls == ["rebind.test", "rebind.test"]
    assert len(receiver.seen) == 1


# -- redirects ----------------------------------------------------------------------------------


def test_redirect_to_a_private_address_is_refused(receiver: Receiver) -> None:
    policy = EgressPolicy.from_settings(EgressSettings(allow_hosts=["127.0.0.1"]))
    start = f"{receiver.url}/redirect?to=http://10.0.0.5/admin"
    with (
        guarded_client(policy, timeout=2, follow_redirects=True, resolver=no_resolver) as client,
        pytest.raises(EgressRefused) as info,
    ):
        client.get(start)
    assert info.value.message.startswith("http://10.0.0.5/admin: refused, address 10.0.0.5")
    assert [path for path, _ in receiver.seen] == ["/redirect"]


def test_redirect_to_another_name_for_loopback_is_refused(receiver: Receiver) -> None:
    # allowing the host 127.0.0.1 does not allow every name that resolves to it
    policy = EgressPolicy.from_settings(EgressSettings(allow_hosts=["127.0.0.1"]))
    target = f"http://localhost:{receiver.port}/hello"
    resolver = fixed({"localhost": ["127.0.0.1"]})
    with (
        guarded_client(policy, timeout=2, follow_redirects=True, resolver=resolver) as client,
        pytest.raises(EgressRefused, match=r"localhost resolves to 127\.0\.0\.1 \(loopback"),
    ):
        client.get(f"{receiver.url}/redirect?to={target}")
    assert [path for path, _ in receiver.seen] == ["/redirect"]


def test_redirect_to_another_scheme_is_refused(receiver: Receiver) -> None:
    with (
        guarded_client(LOOPBACK_ONLY, timeout=2, follow_redirects=True) as client,
        pytest.raises(EgressRefused, match="scheme 'file' is not allowed"),
    ):
        client.get(f"{receiver.url}/redirect?to=file://host/etc/passwd")


def test_allowed_redirects_are_followed_only_when_asked(receiver: Receiver) -> None:
    start = f"{receiver.url}/redirect?to={receiver.url}/hello"
    with guarded_client(LOOPBACK_ONLY, timeout=5) as client:
        assert client.get(start).status_code == 302
    with guarded_client(LOOPBACK_ONLY, timeout=5, follow_redirects=True) as client:
        response = client.get(start)
    assert response.status_code == 200
    assert len(response.history) == 1
    assert [path for path, _ in receiver.seen] == ["/redirect", "/redirect", "/hello"]


# -- allow lists --------------------------------------------------------------------------------


def test_allowed_network_reaches_the_loopback_server(receiver: Receiver) -> None:
    with guarded_client(LOOPBACK_ONLY, timeout=5, resolver=no_resolver) as client:
        assert client.get(f"{receiver.url}/hello").json() == {"hello": f"127.0.0.1:{receiver.port}"}
    assert receiver.seen == [("/hello", f"127.0.0.1:{receiver.port}")]


def test_allowed_network_is_exact(receiver: Receiver) -> None:
    error = refused(f"http://127.0.0.2:{receiver.port}/hello", LOOPBACK_ONLY)
    assert "address 127.0.0.2 (loopback address)" in error.message


def test_allowed_exact_host(receiver: Receiver) -> None:
    policy = EgressPolicy.from_settings(EgressSettings(allow_hosts=["Receiver.Internal."]))
    resolver = fixed({"receiver.internal": ["127.0.0.1"]})
    with guarded_client(policy, timeout=5, resolver=resolver) as client:
        response = client.get(f"http://receiver.internal:{receiver.port}/hello")
    assert response.json() == {"hello": f"receiver.internal:{receiver.port}"}


def test_allowed_wildcard_host(receiver: Receiver) -> None:
    policy = EgressPolicy.from_settings(EgressSettings(allow_hosts=["*.corp.test"]))
    resolver = fixed({"api.eu.corp.test": ["127.0.0.1"], "corp.test": ["127.0.0.1"]})
    with guarded_client(policy, timeout=5, resolver=resolver) as client:
        response = client.get(f"http://api.eu.corp.test:{receiver.port}/hello")
    assert response.status_code == 200
    error = refused(f"http://corp.test:{receiver.port}/hello", policy, resolver)
    assert "corp.test resolves to 127.0.0.1 (loopback address)" in error.message


@pytest.mark.parametrize(
    ("entries", "host", "allowed"),
    [
        (["hooks.example"], "hooks.example", True),
        (["hooks.example"], "HOOKS.example.", True),
        (["hooks.example"], "api.hooks.example", False),
        (["*.corp.test"], "a.corp.test", True),
        (["*.corp.test"], "a.b.corp.test", True),
        (["*.corp.test"], "corp.test", False),
        (["*.corp.test"], "evilcorp.test", False),
        (["*.corp.test"], "a.corp.test.evil", False),
        (["::1"], "::1", True),
    ],
)
def test_allows_host(entries: list[str], host: str, allowed: bool) -> None:
    policy = EgressPolicy.from_settings(EgressSettings(allow_hosts=entries))
    assert policy.allows_host(host) is allowed


def test_allowed_networks_cover_their_range_and_no_more() -> None:
    policy = EgressPolicy.from_settings(EgressSettings(allow_networks=["10.0.0.0/8", "fd00::/8"]))
    policy.check_address("db.internal", "10.200.0.9")
    policy.check_address("db.internal", "::ffff:10.200.0.9")
    policy.check_address("db.internal", "fd12::1")
    with pytest.raises(EgressRefused, match=r"192\.168\.0\.9"):
        policy.check_address("db.internal", "192.168.0.9")
    with pytest.raises(EgressRefused, match="link-local"):
        policy.check_address("db.internal", "fe80::1")


def test_settings_are_parsed_once_and_bad_entries_fail_start_up() -> None:
    policy = EgressPolicy.from_settings(
        EgressSettings(allow_hosts=[" A.example "], allow_networks=["10.1.2.3/8", "::1"])
    )
    assert policy.allow_hosts == ("a.example",)
    assert policy.allow_networks == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
    with pytest.raises(BadInput, match="allow_networks: 'ten' is not an address range"):
        EgressPolicy.from_settings(EgressSettings(allow_networks=["ten"]))
    with pytest.raises(BadInput, match=r"allow_hosts: 'a\.\*\.example'"):
        EgressPolicy.from_settings(EgressSettings(allow_hosts=["a.*.example"]))


# -- TLS still verifies the original name --------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    ca: Path
    cert: Path
    key: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A throwaway CA and a certificate for guarded.test signed by it."""
    where = tmp_path_factory.mktemp("pki")
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "egress test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "guarded.test")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("guarded.test")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pki = Pki(ca=where / "ca.pem", cert=where / "cert.pem", key=where / "key.pem")
    pki.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return pki


@contextlib.contextmanager
def tls_server(pki: Pki) -> Iterator[tuple[int, list[str | None]]]:
    """A one-answer HTTPS server on 127.0.0.1; yields its port and the SNI names it was sent."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.cert, pki.key)
    names: list[str | None] = []
    context.sni_callback = lambda _sock, name, _ctx: names.append(name)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    with context.wrap_socket(conn, server_side=True) as tls:
                        request = b""
                        while b"\r\n\r\n" not in request and (chunk := tls.recv(4096)):
                            request += chunk
                        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                except OSError:  # includes ssl.SSLError: a client that refused the certificate
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], names
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


@pytest.mark.parametrize("send", [CLIENT, LEAN], ids=["client", "lean"])
def test_tls_uses_the_original_name_for_sni_and_verification(pki: Pki, send: Sender) -> None:
    trust = ssl.create_default_context(cafile=str(pki.ca))
    resolver = fixed({"guarded.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    with (
        tls_server(pki) as (port, names),
        guarded_client(LOOPBACK_ONLY, timeout=5, resolver=resolver, ssl_context=trust) as c,
    ):
        response = send(c, f"https://guarded.test:{port}/")
        assert response.text == "ok"
        assert names == ["guarded.test"]
        # the same socket address under a name the certificate does not carry fails the check
        with (
            guarded_client(LOOPBACK_ONLY, timeout=5, resolver=resolver, ssl_context=trust) as c,
            pytest.raises(httpx2.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
        ):
            send(c, f"https://other.test:{port}/")
        assert names == ["guarded.test", "other.test"]
