"""Keep a benchmark on this machine: an audit hook that refuses any socket use off loopback.

    from bench.guard import GUARD, install; install()

Installed in the benchmark process and in every CLI subprocess it starts (`python -c "from
bench.guard import install; install(); ..."` with the repository on PYTHONPATH), so a
misconfigured resolver (the system's, say) fails loudly instead of sending a packet out.
"""

from __future__ import annotations

import ipaddress
import sys
from dataclasses import dataclass, field


@dataclass
class Guard:
    """A sys audit hook: counts UDP sends and refuses any socket use off 127.0.0.1."""

    blocked: list[str] = field(default_factory=list)
    sendto: int = 0

    def __call__(self, event: str, args: tuple) -> None:
        if event == "socket.getaddrinfo":
            host = args[0]
            if isinstance(host, bytes):
                host = host.decode()
            if host not in (None, "localhost") and not _loopback(str(host)):
                self.blocked.append(f"getaddrinfo {host}")
                raise OSError(f"bench: refused to resolve {host} (stay on 127.0.0.1)")
        elif event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
            addr = args[1] if len(args) > 1 else None
            if isinstance(addr, tuple) and addr and isinstance(addr[0], str):
                if not _loopback(addr[0]):
                    self.blocked.append(f"{event} {addr[0]}")
                    raise OSError(f"bench: refused {event} to {addr[0]}")
                if event == "socket.sendto":
                    self.sendto += 1


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


GUARD = Guard()
_installed = False


def install() -> Guard:
    global _installed
    if not _installed:
        sys.addaudithook(GUARD)
        _installed = True
    return GUARD
