"""Real SMTP servers on loopback for the probe tests (aiosmtpd), with STARTTLS from a test CA
made here with `cryptography`, independently of the stand-in's certificates in cutover/probe.

Every server refuses DATA and records that it was asked: the probe must never send it, and the
fixtures fail the test that did (`assert_no_data`).
"""

from __future__ import annotations

import datetime as dt
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.servers import free_port


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class TestCA:
    """A CA written to `folder/ca.pem`; `leaf(name)` issues a server certificate for a name."""

    __test__ = False

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        now = dt.datetime.now(dt.UTC)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name("probe test CA"))
            .issuer_name(_name("probe test CA"))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.path = folder / "ca.pem"
        self.path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def server_context(self, name: str, *more: str) -> ssl.SSLContext:
        now = dt.datetime.now(dt.UTC)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in (name, *more)]),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        cert_path, key_path = self.folder / f"{name}.pem", self.folder / f"{name}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert_path, key_path)
        return ctx


@dataclass
class Behaviour:
    """What a server answers: None means 250."""

    mail: str | None = None
    rcpt: str | None = None
    #: RCPT answers for these recipients only (others get `rcpt` or 250)
    per_rcpt: dict[str, str] = field(default_factory=dict)


class Handler:
    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.data_seen: list[str] = []
        self.rcpts: list[str] = []
        self.tls_sessions = 0

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.behaviour.mail:
            return self.behaviour.mail
        envelope.mail_from = address
        return "250 2.1.0 Sender OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.rcpts.append(address)
        if session.ssl is not None:
            self.tls_sessions += 1
        answer = self.behaviour.per_rcpt.get(address) or self.behaviour.rcpt
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Recipient OK"

    async def handle_DATA(self, server, session, envelope):  # never reached: smtp_DATA refuses
        self.data_seen.append("handle_DATA")
        return "554 5.7.0 the probe must never send DATA"


class _Recording(SMTP):
    async def smtp_DATA(self, arg: str) -> None:
        self.event_handler.data_seen.append(f"DATA from {self.session.peer}")
        await self.push("554 5.7.0 the probe must never send DATA")


class Server(Controller):
    """One aiosmtpd server on 127.0.0.1; `address` is what `probe.hosts` maps an MX host to."""

    def __init__(self, behaviour: Behaviour, tls: ssl.SSLContext | None) -> None:
        self.handler_obj = Handler(behaviour)
        kwargs = {"tls_context": tls, "require_starttls": False} if tls else {}
        super().__init__(
            self.handler_obj, hostname="127.0.0.1", port=free_port(), ready_timeout=10, **kwargs
        )

    def factory(self):
        return _Recording(self.handler, **self.SMTP_kwargs)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def closed_port() -> str:
    """A loopback port nothing listens on."""
    return f"127.0.0.1:{free_port()}"


def assert_no_data(servers: list) -> None:
    seen = [d for s in servers for d in getattr(s, "handler_obj", s).data_seen]
    assert not seen, f"a probe sent DATA: {seen}"


class Greeter:
    """A bare TCP server that refuses at the greeting (`554 5.7.1 ...`), as a blocklisted
    client sees some MX hosts, or (greeting None) never greets at all; it records every line
    it is sent (`data_seen` gets DATA)."""

    def __init__(self, greeting: str | None) -> None:
        import socketserver
        import threading

        lines: list[str] = []
        self.lines = lines

        class Handle(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                if greeting is None:  # a tarpit: takes the connection, never says a word
                    self.rfile.read()
                    return
                self.wfile.write(greeting.encode() + b"\r\n")
                for raw in self.rfile:
                    line = raw.decode(errors="replace").strip()
                    lines.append(line)
                    self.wfile.write(
                        b"221 2.0.0 bye\r\n" if line.upper() == "QUIT" else b"503 5.5.1 no\r\n"
                    )  # noqa: E501
                    if line.upper() == "QUIT":
                        return

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handle)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    @property
    def data_seen(self) -> list[str]:
        return [line for line in self.lines if line.upper().startswith("DATA")]

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
