"""One SMTP session with one address of an MX host: EHLO, STARTTLS, MAIL, RCPT..., RSET, QUIT.

Never DATA: the probe asks whether mail would be taken and hangs up, so nothing is delivered.
The session connects to one address but speaks to the server under the MX host's name, so
STARTTLS checks the certificate against the name senders check it against.
"""

from __future__ import annotations

import contextlib
import errno
import smtplib
import socket
import ssl

from .findings import (
    ACCEPTS,
    CONNECT_FAILED,
    NO_STARTTLS,
    TEMPFAIL,
    TLS_INVALID,
    Address,
    Recipient,
    Tls,
    classify,
    worst,
)

#: errors that mean this machine has no route for the address family (a host without IPv6)
NO_ROUTE = {errno.ENETUNREACH, errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT}


class _PinnedSMTP(smtplib.SMTP):
    """smtplib speaking to `host` (EHLO, SNI, the certificate's name) at one given address."""

    def __init__(self, host: str, address: str, timeout: float, helo: str) -> None:
        self._address = address
        self.tcp_connected = False  # the TCP connection was made (then a silent server is no
        # blocked port: smtplib drops the socket when the greeting times out)
        super().__init__(timeout=timeout, local_hostname=helo)
        self._host = host  # what starttls() checks the certificate against (SNI too)

    def _get_socket(self, host, port, timeout):  # noqa: ANN001 - smtplib's hook
        sock = socket.create_connection((self._address, port), timeout)
        self.tcp_connected = True
        return sock


def _text(msg: bytes | str) -> str:
    raw = msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)
    return " ".join(raw.split())


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """The system's trust store (or `probe.ca_file`), the host name checked, as senders do."""
    return ssl.create_default_context(cafile=ca_file)


def probe_address(
    host: str,
    address: str,
    family: str,
    port: int,
    recipients: list[str],
    *,
    sender: str = "",
    timeout: float = 10,
    context: ssl.SSLContext,
    helo: str = "",
) -> Address:
    """Run the session; every way it can end is a finding, never an exception."""
    out = Address(address=address, family=family, port=port)
    smtp = _PinnedSMTP(host, address, timeout, helo or socket.gethostname())
    try:
        _session(smtp, host, port, recipients, sender, context, out)
        if out.step != "quit" and out.finding != TLS_INVALID:  # refused early: say goodbye
            with contextlib.suppress(OSError):
                smtp.quit()
    except OSError as exc:  # includes timeouts and smtplib's disconnects
        if out.step == "connect" and smtp.tcp_connected:  # connected; no greeting came
            out.finding = TEMPFAIL
            reason = exc.strerror or str(exc) or type(exc).__name__
            out.detail = f"{address} port {port}: connected, but no greeting ({reason})"
        elif out.step == "connect":
            out.finding = CONNECT_FAILED
            out.family_unreachable = getattr(exc, "errno", None) in NO_ROUTE
            reason = exc.strerror or str(exc) or type(exc).__name__
            out.detail = f"{address} port {port}: {reason}"
        elif out.step != "quit":  # a server that hangs up at RSET or QUIT changes nothing
            out.finding = TEMPFAIL
            out.detail = f"connection lost at {out.step}: {exc or type(exc).__name__}"
    finally:
        smtp.close()
    return out


def _stop(out: Address, step: str, code: int, msg: bytes | str) -> bool:
    """Record a refusing reply; True when the session must end here."""
    finding = classify(step, code, _text(msg))
    if finding is None:
        return False
    out.finding, out.step, out.detail = finding, step, f"{step}: {code} {_text(msg)}"
    return True


def _session(smtp, host, port, recipients, sender, context, out: Address) -> None:
    code, msg = smtp.connect(host, port)
    out.step = "greeting"
    out.greeting = f"{code} {_text(msg)}"
    if _stop(out, "greeting", code, msg):
        return
    out.step = "ehlo"
    code, msg = smtp.ehlo()
    if _stop(out, "ehlo", code, msg):
        return
    findings = []
    if smtp.has_extn("starttls"):
        out.tls = Tls(offered=True)
        out.step = "starttls"
        try:
            code, msg = smtp.starttls(context=context)
        except smtplib.SMTPResponseException as exc:  # smtplib raises on any reply but 220
            code, msg = exc.smtp_code, exc.smtp_error
        except ssl.SSLCertVerificationError as exc:
            out.tls.verified, out.tls.error = False, exc.verify_message or str(exc)
            out.finding, out.detail = TLS_INVALID, f"certificate for {host}: {out.tls.error}"
            return
        except ssl.SSLError as exc:
            out.tls.verified, out.tls.error = False, exc.reason or str(exc)
            out.finding, out.detail = TLS_INVALID, f"TLS handshake: {out.tls.error}"
            return
        if _stop(out, "starttls", code, msg):
            return
        if code != 220:  # an odd 2xx/3xx: offered, but no TLS came of it
            out.tls.verified, out.tls.error = False, f"STARTTLS answered {code} {_text(msg)}"
            out.finding, out.detail = TLS_INVALID, f"starttls: {out.tls.error}"
            return
        out.tls.verified, out.tls.version = True, smtp.sock.version()
        code, msg = smtp.ehlo()
        if _stop(out, "ehlo", code, msg):
            return
    else:
        out.tls = Tls(offered=False)
        findings.append(NO_STARTTLS)
    out.step = "mail"
    code, msg = smtp.mail(sender)
    if _stop(out, "mail", code, msg):
        return
    out.step = "rcpt"
    for rcpt in recipients:
        code, msg = smtp.rcpt(rcpt)
        text = _text(msg)
        found = classify("rcpt", code, text) or ACCEPTS
        out.recipients.append(Recipient(rcpt, found, code, text))
        findings.append(found)
    out.finding = worst(findings)
    for r in out.recipients:
        if r.finding == out.finding and r.finding != ACCEPTS:
            out.detail = f"RCPT TO:<{r.recipient}>: {r.code} {r.reply}"
            break
    if out.finding == NO_STARTTLS:
        out.detail = f"{host} does not offer STARTTLS: mail to it travels in clear text"
    out.step = "quit"
    smtp.rset()
    smtp.quit()
