"""Where webhooks may go: public addresses, or what the workspace allow-lists."""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest

from stageflow.adapters.http import AllowList, TargetRefused, check_target, check_url, signature


def resolver(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    return lambda host, port: table[host]


NOTHING = AllowList()


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:8080/hook", "loopback"),
        ("http://[::1]/hook", "loopback"),
        ("http://10.1.2.3/", "private"),
        ("http://192.168.0.10/", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://0.0.0.0/", "not a public"),
        ("http://100.64.0.1/", "not a public"),
    ],
)
def test_non_public_addresses_are_refused(url: str, why: str) -> None:
    with pytest.raises(TargetRefused, match=why) as refused:
        check_target(url, NOTHING)
    assert "webhook_allowlist" in str(refused.value)


def test_a_name_is_checked_by_every_address_it_resolves_to() -> None:
    names = resolver(
        {"ok.example": ["93.184.215.14"], "mixed.example": ["93.184.215.14", "10.0.0.5"]}
    )
    target = check_target("https://ok.example/x?y=1", NOTHING, names)
    assert (target.address, target.port, target.host) == ("93.184.215.14", 443, "ok.example")
    assert target.connect_url() == "https://93.184.215.14:443/x?y=1"
    with pytest.raises(TargetRefused, match=r"10\.0\.0\.5"):
        check_target("https://mixed.example/", NOTHING, names)


def test_allow_list_takes_hosts_and_networks() -> None:
    allow = AllowList.parse(["127.0.0.1", "10.0.0.0/8", "Billing.Internal."])
    names = resolver({"billing.internal": ["192.168.1.1"]})
    assert check_target("http://127.0.0.1:9/", allow).address == "127.0.0.1"
    assert check_target("http://10.9.9.9/", allow).address == "10.9.9.9"
    assert check_target("http://billing.internal/", allow, names).address == "192.168.1.1"
    with pytest.raises(TargetRefused):
        check_target("http://127.0.0.2/", allow)
    with pytest.raises(ValueError, match="neither"):
        AllowList.parse(["not a host/"])


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://example.com/", "http:// or https://"),
        ("http:///path", "names no host"),
        ("https://user:pw@example.com/", "credentials"),
        ("http://example.com:99999/", "not a valid URL"),
    ],
)
def test_bad_urls_say_what_is_wrong(url: str, words: str) -> None:
    with pytest.raises(TargetRefused, match=re.escape(words)):
        check_url(url)


def test_signature_is_hmac_sha256_of_timestamp_and_body() -> None:
    body = b'{"a":1}'
    expected = hmac.new(b"whsec_x", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature("whsec_x", "1700000000", body) == f"v1={expected}"


def test_a_dripping_server_is_cut_off_at_the_timeout() -> None:
    """httpx's timeout is per read; the whole exchange must still end at the timeout."""
    import socket
    import threading
    import time

    from stageflow.adapters.http import post

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]

    def drip() -> None:
        conn, _ = server.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        try:
            for _ in range(100):
                conn.sendall(b"x")
                time.sleep(0.3)  # a slow server (its pace, not the test's clock)
        except OSError:
            pass
        conn.close()

    threading.Thread(target=drip, daemon=True).start()
    target = check_target(f"http://127.0.0.1:{port}/", AllowList.parse(["127.0.0.1"]))
    started = time.monotonic()
    delivery = post(target, method="POST", headers={}, body=b"{}", timeout=1.0)
    assert time.monotonic() - started < 2.5
    assert (
        not delivery.ok and delivery.retryable and "no answer within 1 s" in (delivery.error or "")
    )
    server.close()


def test_html_templates_escape_values_and_pdfs_load_no_images() -> None:
    from stageflow.adapters.pdf import html_to_pdf
    from stageflow.automation.templates import render_html

    assert render_html("<p>{{ record.name }}</p>", {"record": {"name": "<img src=x>"}}) == (
        "<p>&lt;img src=x&gt;</p>"
    )
    # One pass of removal would join these into a real <img> that fpdf2 would load.
    pdf = html_to_pdf("<p>a</p><im<img>g src='/nonexistent/secret.png'>", title="t")
    assert pdf.startswith(b"%PDF")
