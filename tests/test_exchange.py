"""The shared-socket UDP exchange (`cutover/verify/exchange.py`) that validate's and lint's
questions go through: every answer reaches the query that asked it, a cancelled query does not
take the others with it, and a closed port is ConnectionRefusedError at once, never a timeout.
Asked of the embedded server serving the demo zones."""

from __future__ import annotations

import asyncio
import socket
import threading

import dns.exception
import dns.message
import dns.rdatatype
import dns.rrset
import pytest

from cutover.dnsserver import DNSServer
from cutover.verify import exchange
from tests.conftest import REPO
from tests.servers import free_port

NAMES = [f"n{i}.example.com." for i in range(150)] + ["example.com.", "www.example.com."]


@pytest.fixture(scope="module")
def server():
    with DNSServer([REPO / "demo" / "zones"]) as srv:
        yield srv


def _host_port(server) -> tuple[str, int]:
    host, port = server.address.rsplit(":", 1)
    return host, int(port)


def test_many_queries_in_flight_each_get_their_own_answer(server):
    host, port = _host_port(server)

    async def main():
        sem = asyncio.Semaphore(100)  # as callers bound it (the one-threaded server's buffer)

        async def one(name: str, rtype: str):
            async with sem:
                return await exchange.udp(name, rtype, host, port, 2.0, recursive=False)

        qs = [(n, t) for n in NAMES for t in ("TXT", "A")]
        return qs, await asyncio.gather(*(one(n, t) for n, t in qs))

    qs, got = asyncio.run(main())
    for (name, rtype), resp in zip(qs, got, strict=True):
        (question,) = resp.question
        assert question.name.to_text() == name and question.rdtype == dns.rdatatype.from_text(rtype)
    rcodes = {n: r.rcode() for (n, t), r in zip(qs, got, strict=True) if t == "A"}
    assert rcodes["www.example.com."] == 0 and rcodes["n7.example.com."] == 3  # NXDOMAIN
    assert asyncio.run(main())[1][0].id != 0  # the template's id 0 is never sent


def test_a_cancelled_query_leaves_the_others_alone(server):
    host, port = _host_port(server)

    async def main():
        tasks = [
            asyncio.ensure_future(exchange.udp(n, "A", host, port, 2.0, recursive=False))
            for n in NAMES[:40]
        ]
        await asyncio.sleep(0)  # all of them wait for the channel being opened
        tasks[0].cancel()
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(main())
    assert isinstance(results[0], asyncio.CancelledError)
    assert all(not isinstance(r, BaseException) for r in results[1:])


def test_a_closed_port_is_refused_at_once_not_a_timeout():
    port = free_port()

    async def main():
        return await asyncio.gather(
            *(exchange.udp(n, "A", "127.0.0.1", port, 3.0, recursive=False) for n in NAMES[:5]),
            return_exceptions=True,
        )

    results = asyncio.run(main())
    # ConnectionRefusedError comes only from the ICMP error, never from the 3 s timer (a
    # wall-clock bound here would be a timed test, flaky on a loaded machine)
    assert all(isinstance(r, ConnectionRefusedError) for r in results), results
    assert not any(isinstance(r, dns.exception.Timeout) for r in results)


def test_an_answer_to_another_question_with_the_same_id_is_not_taken():
    """A shared socket can meet a late answer to an earlier query that drew the same id: it is
    dropped, and the query takes its own answer (whose name may come back in another case)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]

    def serve() -> None:
        wire, peer = sock.recvfrom(4096)
        q = dns.message.from_wire(wire)
        other = dns.message.make_response(dns.message.make_query("other.example.", "A"))
        other.id = q.id
        sock.sendto(other.to_wire(), peer)
        mine = dns.message.make_response(dns.message.make_query("WWW.Example.COM.", "A"))
        mine.id = q.id
        mine.answer.append(dns.rrset.from_text("www.example.com.", 60, "IN", "A", "192.0.2.7"))
        sock.sendto(mine.to_wire(), peer)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        resp = asyncio.run(
            exchange.udp("www.example.com.", "A", "127.0.0.1", port, 2.0, recursive=False)
        )
    finally:
        thread.join(5)
        sock.close()
    assert [rd.to_text() for rd in resp.answer[0]] == ["192.0.2.7"]
