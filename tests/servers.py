"""Real DNS servers for tests: Knot, BIND and Unbound, each started on a free loopback port.

Each runs in the foreground in a fresh temporary directory with a random TSIG key, and is
stopped at teardown. A missing binary is an error, not a skip: `.ci/run` installs them, and a
skipped DNS test would hide exactly what the suite is for.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import dns.tsigkeyring


def free_port() -> int:
    """A port free on both UDP and TCP of 127.0.0.1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                    u.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port on 127.0.0.1")


def require(binary: str) -> str:
    path = shutil.which(binary) or (
        f"/usr/sbin/{binary}" if os.path.exists(f"/usr/sbin/{binary}") else None
    )
    if not path:
        raise RuntimeError(f"{binary} is not installed; run `bash .ci/run` (it apt-installs it)")
    return path


def stop_process(proc: subprocess.Popen | None) -> None:
    """SIGTERM, then SIGKILL after 5 s: a server that hangs on shutdown must not hang the run."""
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for_soa(
    port: int, zone: str, timeout: float = 10.0, proc: subprocess.Popen | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"server exited with {proc.returncode}: {proc.stderr.read()[-2000:] if proc.stderr else ''}"
            )
        try:
            r = dns.query.udp(
                dns.message.make_query(zone, "SOA"), "127.0.0.1", port=port, timeout=0.2
            )
            if r.rcode() == dns.rcode.NOERROR and r.answer:
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.05)
    raise RuntimeError(f"no SOA for {zone} on 127.0.0.1:{port} after {timeout}s")


@dataclass
class AuthServer:
    """A running authoritative server: where it listens, its TSIG key, how to stop it."""

    kind: str
    port: int
    workdir: Path
    key_name: str
    key_secret: str
    zones: list[str]
    proc: subprocess.Popen | None = None
    extra: dict = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def keyring(self):
        return dns.tsigkeyring.from_text({self.key_name: self.key_secret})

    def stop(self) -> None:
        stop_process(self.proc)

    # -- Knot only: out-of-band edits, as another admin would make them
    def knotc(self, *args: str) -> str:
        assert self.kind == "knot"
        out = subprocess.run(
            [require("knotc"), "-c", str(self.workdir / "knot.conf"), *args],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if out.returncode != 0:
            raise RuntimeError(f"knotc {' '.join(args)}: {out.stdout}{out.stderr}")
        return out.stdout

    def knot_set(self, zone: str, owner: str, ttl: int, rtype: str, *values: str) -> None:
        """Replace one RRset through a knotc transaction (simulates drift)."""
        self.knotc("zone-begin", zone)
        try:
            with contextlib.suppress(RuntimeError):
                self.knotc("zone-unset", zone, owner, rtype)
            for v in values:
                self.knotc("zone-set", zone, owner, str(ttl), rtype, v)
            self.knotc("zone-commit", zone)
        except Exception:
            self.knotc("zone-abort", zone)
            raise


def _secret() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def _launch(
    kind: str, argv: list[str], port: int, workdir: Path, secret: str, zone_files: dict
) -> AuthServer:
    """Start a server in the foreground and wait until it serves every zone's SOA."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    server = AuthServer(kind, port, workdir, "test-key", secret, list(zone_files), proc)
    try:
        for zone in zone_files:
            wait_for_soa(port, zone, proc=proc)
    except Exception:
        server.stop()
        raise
    return server


def start_knot(workdir: Path, zone_files: dict[str, str], port: int | None = None) -> AuthServer:
    """Knot serving `zone_files` ({zone: text}); TSIG key `test-key` may update and transfer."""
    knotd = require("knotd")
    port = port or free_port()
    for sub in ("zones", "db", "run"):
        (workdir / sub).mkdir(parents=True, exist_ok=True)  # Knot does not create db/
    secret = _secret()
    zones_conf = []
    for zone, text in zone_files.items():
        z = zone.rstrip(".")
        (workdir / "zones" / f"{z}.zone").write_text(text)
        zones_conf.append(f"  - domain: {z}\n    acl: [ tsig_update, plain_transfer ]\n")
    conf = f"""server:
    listen: [ 127.0.0.1@{port} ]
    rundir: {workdir}/run
log:
  - target: stderr
    any: warning
database:
    storage: {workdir}/db
key:
  - id: test-key
    algorithm: hmac-sha256
    secret: {secret}
acl:
  - id: tsig_update
    address: [ 127.0.0.1 ]
    key: test-key
    action: [ update, transfer ]
  - id: plain_transfer
    address: [ 127.0.0.1 ]
    action: transfer
template:
  - id: default
    storage: {workdir}/zones
    file: "%s.zone"
    semantic-checks: on
    zonefile-sync: -1
    zonefile-load: difference-no-serial
    journal-content: all
zone:
{"".join(zones_conf)}"""
    (workdir / "knot.conf").write_text(conf)
    return _launch(
        "knot", [knotd, "-c", str(workdir / "knot.conf")], port, workdir, secret, zone_files
    )


def start_bind(workdir: Path, zone_files: dict[str, str], port: int | None = None) -> AuthServer:
    """BIND (named -g) serving `zone_files`, dynamic updates allowed with TSIG key `test-key`."""
    named = require("named")
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    secret = _secret()
    (workdir / "key.conf").write_text(
        f'key "test-key" {{ algorithm hmac-sha256; secret "{secret}"; }};\n'
    )
    zones_conf = []
    for zone, text in zone_files.items():
        z = zone.rstrip(".")
        (workdir / f"{z}.zone").write_text(text)
        zones_conf.append(
            f'zone "{z}" {{ type primary; file "{workdir}/{z}.zone"; '
            f'allow-update {{ key "test-key"; }}; allow-transfer {{ key "test-key"; 127.0.0.1; }}; }};\n'
        )
    conf = f"""include "{workdir}/key.conf";
options {{
    directory "{workdir}";
    pid-file "{workdir}/named.pid";
    session-keyfile "{workdir}/session.key";
    managed-keys-directory "{workdir}";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion no;
    allow-query {{ any; }};
    dnssec-validation no;
    notify no;
}};
controls {{ }};
{"".join(zones_conf)}"""
    (workdir / "named.conf").write_text(conf)
    argv = [named, "-g", "-c", str(workdir / "named.conf")]
    return _launch("bind", argv, port, workdir, secret, zone_files)


@dataclass
class Resolver:
    port: int
    proc: subprocess.Popen

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_process(self.proc)


def start_unbound(workdir: Path, stubs: dict[str, str], port: int | None = None) -> Resolver:
    """A caching recursive resolver whose `stubs` ({zone: "127.0.0.1:port"}) point at our servers."""
    unbound = require("unbound")
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    stub_conf = "".join(
        f'stub-zone:\n  name: "{z.rstrip(".")}"\n  stub-addr: {addr.replace(":", "@")}\n'
        for z, addr in stubs.items()
    )
    insecure = "".join(f'  domain-insecure: "{z.rstrip(".")}"\n' for z in stubs)
    conf = f"""server:
  interface: 127.0.0.1@{port}
  port: {port}
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "{workdir}"
  pidfile: ""
  use-syslog: no
  logfile: ""
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: no
{insecure}  module-config: "iterator"
  verbosity: 0
  do-ip6: no
{stub_conf}"""
    (workdir / "unbound.conf").write_text(conf)
    proc = subprocess.Popen(
        [unbound, "-d", "-c", str(workdir / "unbound.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    res = Resolver(port, proc)
    deadline = time.monotonic() + 10
    zone = next(iter(stubs))
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"unbound exited: {proc.stderr.read()[-2000:]}")
        try:
            q = dns.message.make_query(zone, "SOA")
            r = dns.query.udp(q, "127.0.0.1", port=port, timeout=0.3)
            if r.rcode() == dns.rcode.NOERROR:
                return res
        except Exception:  # noqa: BLE001
            pass
        time.sleep(0.05)
    res.stop()
    raise RuntimeError("unbound did not answer within 10 s")
