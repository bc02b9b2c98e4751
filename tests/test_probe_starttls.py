"""A server that offers STARTTLS and then refuses it: the reply is the finding (a 454 is a
temporary failure, a 5.7.x refuses the probing host), said as the server said it, never as a
lost connection. Real aiosmtpd servers on loopback; the probe's own session code."""

from __future__ import annotations

import ssl

import pytest
from aiosmtpd.smtp import SMTP

from cutover.probe.smtp import probe_address
from tests.smtp_servers import Behaviour, Server, TestCA, assert_no_data


class _RefusesTls(SMTP):
    reply = ""

    async def smtp_STARTTLS(self, arg: str) -> None:
        self.event_handler.rcpts.append("STARTTLS")
        await self.push(self.reply)

    async def smtp_DATA(self, arg: str) -> None:
        self.event_handler.data_seen.append("DATA")
        await self.push("554 5.7.0 the probe must never send DATA")


class RefusingServer(Server):
    def __init__(self, reply: str, tls: ssl.SSLContext) -> None:
        super().__init__(Behaviour(), tls)
        self.reply = reply

    def factory(self):
        server = _RefusesTls(self.handler, **self.SMTP_kwargs)
        server.reply = self.reply
        return server


@pytest.mark.parametrize(
    ("reply", "finding"),
    [
        ("454 4.7.0 TLS not available due to temporary reason", "TEMPFAIL"),
        ("554 5.7.1 Client host rejected: STARTTLS refused", "REJECTS_CLIENT"),
        ("250 2.0.0 fine, go on in plain text", "TLS_INVALID"),  # no TLS came of the offer
    ],
)
def test_a_refused_starttls_is_the_servers_reply(tmp_path, reply, finding):
    ca = TestCA(tmp_path)
    srv = RefusingServer(reply, ca.server_context("mx.refuses.test"))
    srv.start()
    try:
        got = probe_address(
            "mx.refuses.test",
            "127.0.0.1",
            "ipv4",
            srv.port,
            ["postmaster@refuses.test"],
            timeout=5,
            context=ssl.create_default_context(cafile=str(ca.path)),
        )
    finally:
        srv.stop()
    assert_no_data([srv])
    assert srv.handler_obj.rcpts == ["STARTTLS"]  # offered, asked, refused; no RCPT after it
    assert (got.finding, got.step) == (finding, "starttls"), got
    assert got.detail.startswith("starttls: ") and reply in got.detail, got.detail
