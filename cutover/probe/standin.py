"""The demo's stand-in for the new provider's MX: aiosmtpd on loopback, for `probe.hosts`
entries that say `embedded`.

It offers STARTTLS with a throwaway certificate for the MX names (certs.py; `ca_pem` is what
the probe trusts for these hosts only), takes RCPT for the environment's domains and refuses everything else, and it refuses DATA
outright (the probe never sends it; anything that does gets a 554), so it can never take mail.
Started on first use on a free port, like the embedded DNS server, and stopped after the probe.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import tempfile
import threading

from aiosmtpd.smtp import SMTP


class _NoData(SMTP):
    async def smtp_DATA(self, arg: str) -> None:
        await self.push("554 5.7.0 the mailcutover stand-in takes no mail (probes never send DATA)")


class _Handler:
    def __init__(self, domains: list[str]) -> None:
        self.domains = {d.lower().rstrip(".") for d in domains}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        domain = address.rpartition("@")[2].lower().rstrip(".")
        if domain not in self.domains:
            return "550 5.4.1 Recipient address rejected: Access denied (stand-in)"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Recipient OK (stand-in)"


class StandIn:
    """An SMTP server on 127.0.0.1 in its own event-loop thread; port 0 picks a free port."""

    def __init__(
        self, domains: list[str], names: list[str], host: str = "127.0.0.1", port: int = 0
    ) -> None:
        from .certs import throwaway_pair

        self.host, self.port = host, port
        self.ca_pem, cert, key = throwaway_pair(names)
        self._tls = _server_context(cert, key)
        self._handler = _Handler(domains)
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> StandIn:
        # aiosmtpd logs a traceback for every client that drops a session (a failed TLS
        # handshake is a finding of the probe, not an error of the stand-in)
        logging.getLogger("mail.log").setLevel(logging.CRITICAL)
        self._thread.start()

        def factory() -> SMTP:
            return _NoData(
                self._handler,
                hostname="mailcutover-standin",
                ident="mailcutover",
                tls_context=self._tls,
                require_starttls=False,
            )

        make = self._loop.create_server(factory, self.host, self.port)
        try:
            self._server = asyncio.run_coroutine_threadsafe(make, self._loop).result(10)
        except BaseException:  # a busy port: no loop thread may outlive the failed start
            self.stop()
            raise
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        if self._server is not None:
            server = self._server

            async def close() -> None:  # in the loop's thread: asyncio's Server is not thread-safe
                server.close()
                await server.wait_closed()

            asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
            self._server = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _server_context(cert: bytes, key: bytes) -> ssl.SSLContext:
    """ssl loads a chain only from files: written to a private temporary folder, then gone."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as folder:
        cert_path, key_path = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
        for path, data in ((cert_path, cert), (key_path, key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        ctx.load_cert_chain(cert_path, key_path)
    return ctx
