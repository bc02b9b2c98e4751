"""The octoDNS bridge against a real PowerDNS (gsqlite3, HTTP API) through `octodns-powerdns`:
the demo lifecycle through the CLI, checked by reading PowerDNS itself (its API and `dig` at its
port); drift made through the API between plan and apply refused with nothing applied; the MX
union between the two MX steps, and a run killed there undone by rollback; writes octoDNS
would make beyond our plan refused; `env/NAME` secrets never on disk or in messages."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from types import SimpleNamespace

import dns.message
import dns.query
import dns.rdatatype
import pytest
import yaml

from tests.conftest import run_cli
from tests.lifecycle_helpers import fast_demo, runs
from tests.octodns_helpers import ENV, ZONES, key_env, pdns_zones, state, write_env
from tests.servers import require
from tests.test_interrupted_runs import paused

NEW_MX = {z: f"0 {z.replace('.', '-')}.mail.protection.outlook.com." for z in ZONES}
OLD_MX = "1 smtp.google.com."
#: RRsets no profile ever writes: (name, type) per zone, compared byte for byte in the API
UNOWNED = {
    "example.com": [
        ("example.com.", "CAA"),
        ("_sip._tls.example.com.", "SRV"),
        ("long.example.com.", "TXT"),
        ("www.example.com.", "A"),
        ("ns1.example.com.", "A"),
        ("example.com.", "NS"),
        ("example.org._report._dmarc.example.com.", "TXT"),
    ],
    "example.org": [("www.example.org.", "A"), ("ns1.example.org.", "A"), ("example.org.", "NS")],
}
APEX_KEPT = ('"google-site-verification=demo-example-Xy12AbCdEfGh"', '"unrelated-service-token=keep-me-exactly"')  # fmt: skip


@pytest.fixture
def pdns(project, powerdns_factory):
    """PowerDNS serving the (fast) demo zones, CAA/SRV/long TXT added, and the env file for it."""
    fast_demo(project)
    srv = powerdns_factory(pdns_zones(project))
    write_env(project, srv)
    return srv


def cli(project, srv, *args, env=None):
    return run_cli(project, *args, env={**key_env(srv), **(env or {})})


def dig(srv, name: str, rtype: str) -> list[str]:
    """The answer as PowerDNS serves it, by `dig @127.0.0.1 -p PORT`."""
    out = subprocess.run(
        [require("dig"), "@127.0.0.1", "-p", str(srv.port), "+short", name, rtype],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    return sorted(line.strip() for line in out.stdout.splitlines() if line.strip())


def wire(srv, zone: str, api_state: dict) -> dict:
    """Every RRset of `api_state` as served over DNS: (ttl, sorted joined-text values)."""
    out = {}
    for name, rtype in api_state:
        q = dns.message.make_query(name, rtype)
        r = dns.query.udp(q, "127.0.0.1", port=srv.port, timeout=2)
        for rrset in r.answer:
            if rrset.rdtype == dns.rdatatype.from_text(rtype) and rrset.name.to_text() == name:
                values = sorted(
                    b"".join(rd.strings).decode() if rtype == "TXT" else rd.to_text()
                    for rd in rrset
                )
                out[(name, rtype)] = (rrset.ttl, values)
    return out


def release(proc, project, timeout: float = 120) -> tuple[str, str]:
    """Let a paused run go on, every time it stops at its pause point, until it exits."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        for marker in project.parent.glob("paused-*"):
            marker.unlink(missing_ok=True)
        assert time.monotonic() < deadline, "the paused run did not finish"
        time.sleep(0.02)
    return proc.communicate()


def unowned(srv) -> dict:
    now = state(srv)
    out = {z: {k: now[z][k] for k in keys} for z, keys in UNOWNED.items()}
    for z in ZONES:
        apex_txt = now[z][(f"{z}.", "TXT")][1]
        out[z]["apex TXT kept"] = [v for v in apex_txt if v in APEX_KEPT]
    return out


def test_lifecycle_on_powerdns_through_the_octodns_bridge(pdns, project):
    original = state(pdns)
    original_wire = {z: wire(pdns, z, original[z]) for z in ZONES}
    kept = unowned(pdns)
    assert all(len(kept[z]["apex TXT kept"]) == 2 for z in ZONES)

    def ok(*args):
        r = cli(project, pdns, *args)
        assert r.returncode == 0, r.stdout + r.stderr
        assert unowned(pdns) == kept, args  # byte-identical in PowerDNS's own API
        return r

    ok("prepare", "--env", ENV, "--yes")
    after_prepare = state(pdns)
    after_prepare_wire = {z: wire(pdns, z, after_prepare[z]) for z in ZONES}
    for z in ZONES:
        assert after_prepare[z][(f"{z}.", "MX")] == (1, [OLD_MX])  # TTL lowered only
        assert dig(pdns, z, "MX") == [OLD_MX]

    # cutover with the default mx_update (two-step): paused between the two applies, PowerDNS
    # holds old and new MX together, never neither
    with paused(project, "octodns-between-steps", "cutover", "--env", ENV, "--yes", "--wait",
                env=key_env(pdns)) as proc:  # fmt: skip
        z = "example.com"
        assert sorted(state(pdns)[z][(f"{z}.", "MX")][1]) == sorted([OLD_MX, NEW_MX[z]])
        assert dig(pdns, z, "MX") == sorted([OLD_MX, NEW_MX[z]])
        out, err = release(proc, project)  # example.org pauses there too
        assert proc.returncode == 0, out + err
    assert unowned(pdns) == kept
    for z in ZONES:
        assert dig(pdns, z, "MX") == [NEW_MX[z]]
        assert dig(pdns, f"autodiscover.{z}", "CNAME") == ["autodiscover.outlook.com."]
    r = cli(project, pdns, "validate", "--env", ENV, "--stage", "cutover")
    assert r.returncode == 0, r.stdout + r.stderr

    ok("finalize", "--env", ENV, "--yes")
    txt = dig(pdns, "example.com", "TXT")
    assert '"v=spf1 include:spf.protection.outlook.com ~all"' in txt
    assert dig(pdns, "google._domainkey.example.com", "TXT") == []  # old DKIM gone

    ok("rollback", "--env", ENV, "--yes")  # undo finalize
    ok("rollback", "--env", ENV, "--yes")  # undo cutover
    assert {z: wire(pdns, z, after_prepare[z]) for z in ZONES} == after_prepare_wire
    assert {z: set(s) for z, s in state(pdns).items()} == {
        z: set(s) for z, s in after_prepare.items()
    }  # autodiscover and the new DKIM CNAMEs gone, nothing else added
    for z in ZONES:
        assert dig(pdns, z, "MX") == [OLD_MX]
    ok("rollback", "--env", ENV, "--yes")  # undo prepare
    final = state(pdns)
    for z in ZONES:
        # served exactly as before: values (TXT as joined text) and TTLs, every RRset
        assert wire(pdns, z, original[z]) == original_wire[z]
        assert set(final[z]) == set(original[z])
        # and in the API, every RRset but the TXT the tool rewrote (octoDNS re-splits at 255
        # bytes and escapes `;` as `\;`, the same text on the wire) is the very same string
        for key, value in original[z].items():
            if key[1] != "TXT" or key in UNOWNED.get(z, []) or key == (f"{z}.", "TXT"):
                assert final[z][key] == value, key
    r = cli(project, pdns, "rollback", "--env", ENV, "--yes")
    assert r.returncode == 0 and "nothing to roll back" in r.stdout


def test_drift_made_through_the_api_between_plan_and_apply_is_refused(pdns, project):
    before = state(pdns)
    with paused(project, "after-snapshot", "prepare", "--env", ENV, "--yes",
                env=key_env(pdns)) as proc:  # fmt: skip
        # another admin changes the apex MX through PowerDNS's API while the run waits
        pdns.replace("example.com", "example.com.", "MX", 2, "5 other.example.net.")
        drifted = state(pdns)
        out, err = release(proc, project)
    assert proc.returncode == 1, out + err
    assert "example.com. MX changed since the plan was made" in err
    assert state(pdns) == drifted  # nothing of the plan applied, in either zone
    assert drifted["example.org"] == before["example.org"]
    (run,) = runs(project, ENV)
    assert run["applied"] == [] and run["end"]["event"] == "failed"
    assert run["end"]["nothing_written"] is True


def test_a_run_killed_between_the_mx_steps_is_undone_by_rollback(pdns, project):
    assert cli(project, pdns, "prepare", "--env", ENV, "--yes").returncode == 0
    after_prepare = state(pdns)
    with paused(project, "octodns-between-steps", "cutover", "--env", ENV, "--yes", "--wait",
                env=key_env(pdns)) as proc:  # fmt: skip
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    z = "example.com"
    union = state(pdns)[z][(f"{z}.", "MX")]
    assert sorted(union[1]) == sorted([OLD_MX, NEW_MX[z]])
    # the union is in the journal as the run's first step of example.com, durable before the
    # second apply could start
    run = runs(project, ENV)[-1]
    assert run["stage"] == "cutover" and run["end"] is None and run["applied"] == []
    (step,) = run["steps"]
    assert (step["zone"], step["step"]) == (f"{z}.", 1) and "MX union" in step["note"]
    (wrote,) = step["rrsets"]
    assert (wrote["name"], wrote["type"]) == (f"{z}.", "MX")
    assert (wrote["after"]["ttl"], sorted(wrote["after"]["values"])) == (union[0], sorted(union[1]))
    assert cli(project, pdns, "unlock", "--env", ENV, "--yes").returncode == 0  # SIGKILL: stale
    status = json.loads(cli(project, pdns, "status", "--env", ENV, "--json").stdout)
    open_run = status["open_run"]
    assert open_run["stage"] == "cutover" and open_run["unknown_zones"] == []  # known written
    assert open_run["stopped_in"] == {"zone": f"{z}.", "step": 1, "note": step["note"]}
    assert f"stopped after step 1 of {z}: MX union written" in open_run["message"]
    text = cli(project, pdns, "status", "--env", ENV)
    assert f"stopped after step 1 of {z}" in text.stdout, text.stdout + text.stderr
    r = cli(project, pdns, "rollback", "--env", ENV, "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert state(pdns) == after_prepare  # MX back to the old set, nothing else touched
    assert state(pdns)[z][(f"{z}.", "MX")] == (1, [OLD_MX])  # read back through the API
    assert dig(pdns, z, "MX") == [OLD_MX]
    status = json.loads(cli(project, pdns, "status", "--env", ENV, "--json").stdout)
    assert status["open_run"] is None and status["current_stage"] == "prepare"


def test_a_step_the_journal_cannot_hold_stops_the_run_and_rollback_restores_the_old_mx(
    pdns, project
):
    """The state disk fills right after the MX union is written (RLIMIT_FSIZE: `began` fits, the
    `zone_step` line does not): exit 3 naming the partly written zone, no second apply made; the
    zone is then unknown to the journal, and rollback still recognises the union and restores
    the old MX (what covers a kill between the union write and its line, and older journals)."""
    import resource

    assert cli(project, pdns, "prepare", "--env", ENV, "--yes").returncode == 0
    after_prepare = state(pdns)
    path = project / ".cutover" / ENV / "journal.jsonl"
    assert cli(project, pdns, "cutover", "--env", ENV, "--yes", "--wait").returncode == 0
    lines = [(json.loads(line), len(line)) for line in path.read_bytes().splitlines(True)]
    began = [n for e, n in lines if e["event"] == "began" and e["stage"] == "cutover"][-1]
    step = [n for e, n in lines if e["event"] == "zone_step"][0]
    assert cli(project, pdns, "rollback", "--env", ENV, "--yes").returncode == 0
    assert state(pdns) == after_prepare
    limit = path.stat().st_size + began + step // 2

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    r = run_cli(project, "cutover", "--env", ENV, "--yes", "--wait", env=key_env(pdns),
                preexec_fn=small_files)  # fmt: skip
    assert r.returncode == 3, r.stdout + r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    assert "example.com. was partly written (MX union written" in r.stderr, r.stderr
    assert "not journaled" in r.stderr and "invoke rollback" in r.stderr
    z = "example.com"
    assert sorted(state(pdns)[z][(f"{z}.", "MX")][1]) == sorted([OLD_MX, NEW_MX[z]])
    assert state(pdns)["example.org"] == after_prepare["example.org"]  # never reached
    run = runs(project, ENV)[-1]
    assert run["stage"] == "cutover" and run["steps"] == [] and run["applied"] == []
    status = json.loads(cli(project, pdns, "status", "--env", ENV, "--json").stdout)
    assert status["open_run"]["unknown_zones"] == [f"{z}."]
    assert status["open_run"]["stopped_in"] is None
    r = cli(project, pdns, "rollback", "--env", ENV, "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert state(pdns) == after_prepare
    assert dig(pdns, z, "MX") == [OLD_MX]


def test_a_write_octodns_would_add_beyond_the_plan_is_refused(pdns, project):
    """A provider whose plan adds a change of its own (octoDNS's `_extra_changes` hook) to a
    record the tool does not own: refused, nothing applied."""
    write_env(project, pdns, **{"class": "tests.octodns_extra.ExtraChangePowerDns"})
    before = state(pdns)
    r = cli(project, pdns, "prepare", "--env", ENV, "--yes")
    assert r.returncode == 3, r.stdout + r.stderr
    assert "planned to update www.example.com. A" in r.stderr
    assert "nothing was applied" in r.stderr
    assert state(pdns) == before


def test_the_api_key_from_env_never_reaches_the_state_dir_or_output(pdns, project):
    r = cli(project, pdns, "prepare", "--env", ENV, "--yes")
    assert r.returncode == 0, r.stderr
    key = pdns.api_key
    files = [p for p in (project / ".cutover").rglob("*") if p.is_file()]
    assert any(p.name == "settings.json" for p in files) and len(files) > 2
    for path in files:
        assert key.encode() not in path.read_bytes(), path
    settings = json.loads((project / ".cutover" / ENV / "settings.json").read_text())
    assert settings["provider"]["options"]["api_key"] == "env/PDNS_API_KEY"
    assert key not in r.stdout + r.stderr
    assert key not in (project / "environments" / f"{ENV}.yaml").read_text()

    # a wrong key: one line, exit 3, the wrong key not echoed, nothing changed
    before = state(pdns)
    wrong = "wrong-" + key[::-1]
    r = run_cli(project, "plan", "--env", ENV, env={"PDNS_API_KEY": wrong})
    assert r.returncode == 3, r.stdout + r.stderr
    assert wrong not in r.stdout + r.stderr and key not in r.stdout + r.stderr
    assert state(pdns) == before


@pytest.mark.parametrize(
    ("edit", "expect"),
    [
        (lambda p: p.update({"class": "no_such_pkg.Provider"}), "provider.class: cannot import"),
        (lambda p: p.update({"class": "json.JSONDecoder"}), "is not an octoDNS provider class"),
        (lambda p: p.update({"mx_update": "sometimes"}), "provider.mx_update: 'sometimes'"),
        (lambda p: p.update({"nameservers": ["127.0.0.1:99999"]}), "provider.nameservers[0]"),
        (lambda p: p["options"].update({"api_key": "env/CUTOVER_TEST_UNSET"}),
         "provider.options.api_key: environment variable CUTOVER_TEST_UNSET is not set"),
        (lambda p: p["options"].update({"colour": "blue"}), "provider.options: octodns_powerdns"),
        (lambda p: p.update({"extra": 1}), "provider.extra: unknown key"),
    ],
)  # fmt: skip
def test_option_errors_are_one_line_naming_the_key(project, edit, expect):
    fake = SimpleNamespace(api_port=9, address="127.0.0.1:9", api_key="s3cr3t-never-shown")
    path = write_env(project, fake)
    data = yaml.safe_load(path.read_text())
    edit(data["provider"])
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    r = run_cli(project, "plan", "--env", ENV, env=key_env(fake))
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and expect in lines[0], r.stderr
    assert fake.api_key not in r.stderr


def _mx(*values: str, ttl: int = 1):
    from cutover.records import RRset

    return RRset("example.com.", "MX", ttl, values)


def test_only_an_mx_swap_takes_the_union_step():
    from cutover.plan import Change
    from cutover.providers.octodns_bridge import mx_steps

    old, new = _mx(OLD_MX), _mx(NEW_MX["example.com"])
    (union, final) = mx_steps([Change(old, new)], "two-step")
    assert union[old.key].values == tuple(sorted([OLD_MX, NEW_MX["example.com"]]))
    assert final == {old.key: new}
    assert mx_steps([Change(old, new)], "atomic") == [{old.key: new}]
    grown = _mx(OLD_MX, NEW_MX["example.com"])
    assert len(mx_steps([Change(old, grown)], "two-step")) == 1  # only added: already safe
    assert len(mx_steps([Change(grown, old)], "two-step")) == 1  # only removed: never empty
    assert len(mx_steps([Change(old, old.with_ttl(5))], "two-step")) == 1
    assert len(mx_steps([Change(None, new)], "two-step")) == 1


def test_rollback_counts_the_mx_union_as_the_runs_write():
    from cutover.undo import Written, halfway, holds_after

    old, new = _mx(OLD_MX), _mx(NEW_MX["example.com"])
    w = Written("example.com.", old, new)
    assert holds_after(w, _mx(OLD_MX, NEW_MX["example.com"]))
    assert halfway(w, _mx(OLD_MX, NEW_MX["example.com"]))
    assert not holds_after(w, _mx(OLD_MX, "5 someone.else.example."))
    assert not holds_after(w, _mx(OLD_MX, NEW_MX["example.com"], ttl=300))


def test_a_type_the_provider_does_not_model_is_never_deleted(pdns, project):
    """CAA at the apex, where prepare rewrites MX and TXT: invisible to the octoDNS provider,
    and still served, byte for byte, after the stage and its rollback."""
    write_env(project, pdns, **{"class": "tests.octodns_extra.CaaUnseenPowerDns"})
    caa = state(pdns)["example.com"][("example.com.", "CAA")]
    assert cli(project, pdns, "prepare", "--env", ENV, "--yes").returncode == 0
    assert state(pdns)["example.com"][("example.com.", "CAA")] == caa
    assert cli(project, pdns, "rollback", "--env", ENV, "--yes").returncode == 0
    assert state(pdns)["example.com"][("example.com.", "CAA")] == caa
    assert dig(pdns, "example.com", "CAA") == ['0 issue "letsencrypt.org"']


def test_a_record_the_provider_cannot_write_back_at_a_touched_name_refuses(pdns, project):
    write_env(project, pdns, **{"class": "tests.octodns_extra.CaaReadOnlyPowerDns"})
    before = state(pdns)
    r = cli(project, pdns, "prepare", "--env", ENV, "--yes")
    assert r.returncode == 3, r.stdout + r.stderr
    assert "example.com. CAA" in r.stderr and "nothing was applied" in r.stderr
    assert state(pdns) == before
