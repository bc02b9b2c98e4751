"""The policy as senders see it: `https://mta-sts.<domain>/.well-known/mta-sts.txt`.

As a sending MTA fetches it (RFC 8461 §3.3): HTTPS with the certificate verified for
`mta-sts.<domain>`, HTTP 200 only (a redirect is a failure), `text/plain`. `connect` sends the
request to another address (a test server on loopback, a staging web server) while still
asking for and verifying the real name, so the check a test makes is the one senders make.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from typing import Any

from ..addresses import parse_address
from .publish import WELL_KNOWN

MAX_BYTES = 64 * 1024  # RFC 8461 §3.3: senders may refuse a larger policy


class FetchError(Exception):
    """The served policy could not be fetched (the message says why, in one line)."""


def policy_url(domain: str) -> str:
    return f"https://mta-sts.{domain}/{WELL_KNOWN}"


class _Connection(http.client.HTTPSConnection):
    """An HTTPS connection to `address` that verifies the certificate for `host` (SNI too)."""

    def __init__(self, host: str, address: tuple[str, int], **kw: Any) -> None:
        super().__init__(host, **kw)
        self.address = address

    def connect(self) -> None:
        sock = socket.create_connection(self.address, self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def fetch_policy(
    domain: str, *, connect: str | None = None, ca_file: str | None = None, timeout: float = 10
) -> str:
    """The served policy text of `domain`; FetchError says what failed."""
    host = f"mta-sts.{domain}"
    url = policy_url(domain)
    try:
        context = ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise FetchError(f"{url}: CA file {ca_file}: {exc}") from exc
    address = parse_address(connect, 443) if connect else (host, 443)
    conn = _Connection(host, address, timeout=timeout, context=context)
    try:
        conn.request("GET", f"/{WELL_KNOWN}", headers={"Host": host, "Accept": "text/plain"})
        resp = conn.getresponse()
        body = resp.read(MAX_BYTES + 1)
    except ssl.SSLCertVerificationError as exc:
        raise FetchError(f"{url}: certificate not valid: {exc.verify_message}") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise FetchError(f"{url}: {type(exc).__name__}: {exc}") from exc
    finally:
        conn.close()
    if resp.status != 200:
        raise FetchError(f"{url}: HTTP {resp.status} (only 200 is a policy; no redirects)")
    ctype = (resp.getheader("Content-Type") or "").split(";")[0].strip().lower()
    if ctype != "text/plain":
        raise FetchError(f"{url}: Content-Type {ctype or 'missing'} (must be text/plain)")
    if len(body) > MAX_BYTES:
        raise FetchError(f"{url}: larger than {MAX_BYTES} bytes")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FetchError(f"{url}: not UTF-8 text") from exc


def fetch_for(env: Any, domain: str) -> str:
    """The served policy with the environment's `mta_sts.fetch` settings."""
    cfg = env.mta_sts
    ca = cfg.ca_file
    return fetch_policy(
        domain,
        connect=cfg.connect,
        ca_file=str(env.root / ca) if ca else None,
        timeout=cfg.timeout,
    )
