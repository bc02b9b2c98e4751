"""A DNS relay that adds round-trip time: `tc netem` is not available here, so this stands in.

It listens on UDP and TCP and forwards to one upstream server, holding every packet for half the
added RTT on the way in and half on the way out. UDP goes through one upstream socket with the
DNS message ID rewritten (so thousands of client source ports cost no extra sockets) and put back
on the reply; TCP gets one upstream connection per client connection, and its first message
waits one extra RTT for the handshake a real path would cost. Delays are `call_later`
timers, never a sleep per query, so the relay itself is not what limits concurrency.

    python bench/relay.py --listen 127.0.0.1:5301 --upstream 127.0.0.1:5300 --rtt-ms 30

It prints `READY <host:port>` once both listeners are bound, and on SIGTERM/SIGINT prints
`COUNTS udp=N tcp=M` (queries relayed) before it exits.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import struct
import sys


def split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


class Counters:
    def __init__(self) -> None:
        self.udp = 0
        self.tcp = 0


class UpstreamUDP(asyncio.DatagramProtocol):
    """The single socket that talks to the upstream server; maps reply IDs back to clients."""

    def __init__(self, relay: UDPRelay) -> None:
        self.relay = relay

    def datagram_received(self, data: bytes, addr) -> None:
        self.relay.reply(data)


class UDPRelay(asyncio.DatagramProtocol):
    def __init__(self, upstream: tuple[str, int], half: float, counters: Counters) -> None:
        self.upstream = upstream
        self.half = half
        self.counters = counters
        self.pending: dict[int, tuple[tuple, int]] = {}  # relay id -> (client addr, client id)
        self.next_id = 0
        self.transport: asyncio.DatagramTransport | None = None
        self.up: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        if len(data) < 12:
            return
        self.counters.udp += 1
        asyncio.get_running_loop().call_later(self.half, self.forward, data, addr)

    def forward(self, data: bytes, addr) -> None:
        for _ in range(65536):  # find a free relay ID
            self.next_id = (self.next_id + 1) & 0xFFFF
            if self.next_id not in self.pending:
                break
        else:
            return  # 65536 queries in flight: drop, as a busy network would
        (client_id,) = struct.unpack("!H", data[:2])
        self.pending[self.next_id] = (addr, client_id)
        assert self.up is not None
        self.up.sendto(struct.pack("!H", self.next_id) + data[2:])

    def reply(self, data: bytes) -> None:
        if len(data) < 12:
            return
        (relay_id,) = struct.unpack("!H", data[:2])
        entry = self.pending.pop(relay_id, None)
        if entry is None:
            return
        addr, client_id = entry
        out = struct.pack("!H", client_id) + data[2:]
        asyncio.get_running_loop().call_later(self.half, self._send, out, addr)

    def _send(self, data: bytes, addr) -> None:
        assert self.transport is not None
        self.transport.sendto(data, addr)


def _big_buffers(sock) -> None:
    """A burst of hundreds of answers (validate and the lint ask 256 at once) overflows the
    default 208 KiB socket buffer of this one-threaded relay, and a dropped datagram costs the
    client a whole retry timeout: the bench would measure the relay's losses, not the tool.
    4 MiB each way (SO_*BUFFORCE as root, else as much as net.core.*mem_max allows)."""
    import socket

    for force, plain in (
        (33, socket.SO_RCVBUF),
        (32, socket.SO_SNDBUF),
    ):  # SO_RCVBUFFORCE, SO_SNDBUFFORCE
        try:
            sock.setsockopt(socket.SOL_SOCKET, force, 4 << 20)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, plain, 4 << 20)


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, half: float, count=None
) -> None:
    """Copy DNS-over-TCP messages (2-byte length prefix) one way, each held `half` seconds."""
    loop = asyncio.get_running_loop()
    try:
        while True:
            head = await reader.readexactly(2)
            (length,) = struct.unpack("!H", head)
            body = await reader.readexactly(length)
            if count:
                count()
            loop.call_later(half, writer.write, head + body)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    await asyncio.sleep(half)  # let the last held message go out first
    writer.close()


async def serve(listen: str, upstream: str, rtt: float) -> Counters:
    loop = asyncio.get_running_loop()
    half = rtt / 2
    counters = Counters()
    lhost, lport = split(listen)
    up = split(upstream)

    relay = UDPRelay(up, half, counters)
    server_udp, _ = await loop.create_datagram_endpoint(lambda: relay, local_addr=(lhost, lport))
    relay.up, _ = await loop.create_datagram_endpoint(lambda: UpstreamUDP(relay), remote_addr=up)
    for transport in (server_udp, relay.up):
        _big_buffers(transport.get_extra_info("socket"))

    def bump_tcp() -> None:
        counters.tcp += 1

    async def on_tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # the client's kernel finished the handshake with ours at once; on a real path the
        # SYN/SYN-ACK costs one RTT before the first query can leave, so hold it that long
        await asyncio.sleep(rtt)
        try:
            ureader, uwriter = await asyncio.open_connection(*up)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, uwriter, half, bump_tcp), _pipe(ureader, writer, half))

    server_tcp = await asyncio.start_server(on_tcp, lhost, lport)
    print(f"READY {listen}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server_tcp.close()
    server_udp.close()
    relay.up.close()
    return counters


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", required=True, help="host:port to listen on (UDP and TCP)")
    ap.add_argument("--upstream", required=True, help="host:port of the real server")
    ap.add_argument("--rtt-ms", type=float, default=30.0, help="round-trip time to add")
    args = ap.parse_args(argv)
    counters = asyncio.run(serve(args.listen, args.upstream, args.rtt_ms / 1000))
    print(f"COUNTS udp={counters.udp} tcp={counters.tcp}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
