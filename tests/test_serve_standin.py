"""`serve --env demo` runs the demo's SMTP stand-in beside the embedded DNS server, so a user can
point swaks or smtplib at what `probe` asks; Ctrl-C stops both. Never DATA: the stand-in takes
no mail, and these tests never try."""

from __future__ import annotations

import re
import signal
import smtplib
import socket

import yaml

from tests.conftest import run_cli, spawn_cli
from tests.servers import free_port


def _smtp_address(proc) -> tuple[str, int]:
    first = proc.stdout.readline()
    assert first.startswith("serving "), (first, proc.stderr.read() if proc.poll() else "")
    second = proc.stdout.readline()
    found = re.search(r"SMTP stand-in for (\S+), (\S+) on 127\.0\.0\.1:(\d+)", second)
    assert found, second
    assert found.group(1) == "example-com.mail.protection.outlook.com"
    return "127.0.0.1", int(found.group(3))


def test_serve_runs_the_smtp_standin_and_stops_it_on_ctrl_c(project):
    proc = spawn_cli(project, "serve", "--env", "demo", "--port", str(free_port()))
    try:
        host, port = _smtp_address(proc)
        with smtplib.SMTP(host, port, timeout=10) as smtp:
            code, features = smtp.ehlo("probe.test")
            assert code == 250 and b"STARTTLS" in features.upper()
            assert smtp.mail("")[0] == 250
            code, reply = smtp.rcpt("postmaster@example.org")
            assert code == 250, reply
            code, reply = smtp.rcpt("someone@elsewhere.test")
            assert code == 550 and b"5.4.1" in reply, reply
            smtp.rset()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err
    with socket.socket() as s:  # stopped with the DNS server: nothing listens there any more
        s.settimeout(5)
        assert s.connect_ex((host, port)) != 0


def test_serve_names_a_busy_smtp_port_in_one_line(project):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        r = run_cli(
            project,
            "serve",
            "--env",
            "demo",
            "--port",
            str(free_port()),
            "--smtp-port",
            str(busy.getsockname()[1]),
            timeout=30,
        )
    finally:
        busy.close()
    assert r.returncode == 2, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: serve: cannot listen for SMTP") and "Traceback" not in r.stderr
    assert "serving" not in r.stdout  # nothing claimed to be up


def test_serve_without_embedded_hosts_starts_no_smtp_standin(project):
    path = project / "environments" / "demo.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["probe"].pop("hosts")
    path.write_text(yaml.safe_dump(doc))
    proc = spawn_cli(project, "serve", "--env", "demo", "--port", str(free_port()))
    try:
        assert proc.stdout.readline().startswith("serving ")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "SMTP" not in out
