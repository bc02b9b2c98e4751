"""Server addresses as users write them: `host`, `host:port`, `[v6]:port`."""

from __future__ import annotations

import ipaddress


def parse_address(text: str, default_port: int = 53) -> tuple[str, int]:
    """Split an address into host and port; raises ValueError saying what is accepted."""
    text = str(text).strip()
    host, port = text, default_port
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"{text!r}: missing ']' (use [v6]:port)")
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"{text!r}: expected ':port' after ']'")
            port = _port(text, rest[1:])
    elif text.count(":") == 1:
        host, p = text.split(":")
        port = _port(text, p)
    if not host:
        raise ValueError(f"{text!r}: empty host (use host, host:port or [v6]:port)")
    return host, port


def _port(text: str, value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ValueError(f"{text!r}: port must be 1..65535")
    return int(value)


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
