"""The MTA-STS policy lifecycle on the zone-file provider, end to end through the `cutover`
program, with a real HTTPS server (test CA) serving the published directory: prepare publishes
the coexistence policy and then bumps the `_mta-sts` id, cutover is refused while the served
policy lacks the new MX, rollback restores the policy and the id, finalize enforces the new MX."""

from __future__ import annotations

import json
import signal

import dns.message
import dns.query
import pytest
import yaml

from cutover.dnsserver import DNSServer
from cutover.mtasts.policy import parse, policy_id
from tests.lifecycle_helpers import fast_demo, journal, runs, zone_state
from tests.mtasts_server import PolicyServer, make_ca_and_leaf

ORIGINAL = "version: STSv1\nmode: enforce\nmx: smtp.google.com\nmx: *.aspmx.l.google.com\nmax_age: 604800\n"
NEW_MX = "example-com.mail.protection.outlook.com"
OLD_ID = "v=STSv1; id=20240101"


@pytest.fixture
def sts(project, tmp_path):
    """The demo with example.com publishing MTA-STS (example.org does not), and the server."""
    fast_demo(project)
    zone = project / "demo" / "zones" / "example.com.zone"
    zone.write_text(zone.read_text() + f'_mta-sts 2 IN TXT "{OLD_ID}"\n')
    web = project / "web"
    policy = web / "example.com" / ".well-known" / "mta-sts.txt"
    policy.parent.mkdir(parents=True)
    policy.write_text(ORIGINAL)
    ca, cert, key = make_ca_and_leaf(tmp_path, ["mta-sts.example.com", "mta-sts.example.org"])
    with PolicyServer(web, cert, key) as srv:
        path = project / "environments" / "demo.yaml"
        data = yaml.safe_load(path.read_text())
        data["mta_sts"] = {
            "domains": ["example.com"],
            "publish": {"directory": "web"},
            "fetch": {"connect": srv.address, "ca_file": str(ca)},
        }
        path.write_text(yaml.safe_dump(data))
        yield srv, policy


def read(path):
    return path.read_bytes().decode()  # CRLF kept: the id is the hash of the exact bytes


def served_txt(project, name):
    with DNSServer([project / "demo" / "zones"]) as srv:
        q = dns.message.make_query(name, "TXT")
        r = dns.query.udp(q, "127.0.0.1", port=srv.port, timeout=2)
        return [b"".join(rd.strings).decode() for rrset in r.answer for rd in rrset]


def test_policy_lifecycle_prepare_gate_rollback_finalize(project, cli, sts):
    srv, policy = sts
    r = cli("prepare", "--env", "demo", "--yes")
    assert r.returncode == 0, r.stderr
    coexist = read(policy)
    p = parse(coexist)
    assert p.mode == "testing" and p.max_age == 604800
    assert p.mx == ("smtp.google.com", "*.aspmx.l.google.com", NEW_MX)
    assert served_txt(project, "_mta-sts.example.com") == [f"v=STSv1; id={policy_id(coexist)}"]
    assert not (project / "web" / "example.org").exists()  # not in mta_sts.domains
    # write-ahead order: the policy is published (and journaled) before the zone write
    prep = runs(project)[0]
    assert prep["policies"]["example.com"]["before"] == ORIGINAL
    events = [e["event"] for e in journal(project) if e.get("run") == prep["run"]]
    assert events.index("policy_published") < events.index("zone_applied")

    before_cutover = zone_state(project, "example.com")
    srv.stale["example.com"] = ORIGINAL  # the web server still serves yesterday's file
    r = cli("cutover", "--env", "demo", "--yes", "--wait")
    assert r.returncode == 1
    assert "does not list the new MX " + NEW_MX in r.stderr
    assert r.stderr.count("\n") <= 2  # one line (and its hint)
    assert zone_state(project, "example.com") == before_cutover
    del srv.stale["example.com"]
    r = cli("cutover", "--env", "demo", "--yes", "--wait")
    assert r.returncode == 0, r.stderr
    assert read(policy) == coexist  # coexistence kept through the MX switch

    r = cli("rollback", "--env", "demo", "--yes")  # undoes cutover: the policy stays
    assert r.returncode == 0, r.stderr
    assert read(policy) == coexist
    r = cli("rollback", "--env", "demo", "--yes")  # undoes prepare: the policy and id go back
    assert r.returncode == 0, r.stderr
    assert read(policy) == ORIGINAL
    assert served_txt(project, "_mta-sts.example.com") == [OLD_ID]

    assert cli("prepare", "--env", "demo", "--yes").returncode == 0
    assert read(policy) == coexist  # the same policy gets the same id
    assert cli("cutover", "--env", "demo", "--yes", "--wait").returncode == 0
    r = cli("finalize", "--env", "demo", "--yes")
    assert r.returncode == 0, r.stderr
    final = read(policy)
    p = parse(final)
    assert (p.mode, p.mx, p.max_age) == ("enforce", (NEW_MX,), 604800)
    assert served_txt(project, "_mta-sts.example.com") == [f"v=STSv1; id={policy_id(final)}"]
    assert policy_id(final) != policy_id(coexist)
    r = cli("rollback", "--env", "demo", "--yes")
    assert r.returncode == 0, r.stderr
    assert read(policy) == coexist


def test_rollback_leaves_a_policy_someone_changed_since_alone(project, cli, sts):
    _srv, policy = sts
    assert cli("prepare", "--env", "demo", "--yes").returncode == 0
    edited = read(policy).replace("max_age: 604800", "max_age: 86400")
    policy.write_text(edited)
    r = cli("rollback", "--env", "demo", "--yes")
    assert r.returncode == 1
    assert "changed since the run" in r.stderr
    assert read(policy) == edited
    r = cli("rollback", "--env", "demo", "--yes", "--force")
    assert r.returncode == 0, r.stderr
    assert read(policy) == ORIGINAL
    assert served_txt(project, "_mta-sts.example.com") == [OLD_ID]


def test_rollback_with_a_broken_environment_file_uses_the_settings_copy(project, cli, sts):
    _srv, policy = sts
    assert cli("prepare", "--env", "demo", "--yes").returncode == 0
    (project / "environments" / "demo.yaml").write_text("provider: [broken\n")
    r = cli("rollback", "--env", "demo", "--yes")
    assert r.returncode == 0, r.stderr
    assert read(policy) == ORIGINAL
    assert served_txt(project, "_mta-sts.example.com") == [OLD_ID]


def test_audit_reports_the_served_policy_and_a_saved_file_still_wins(project, cli, sts, tmp_path):
    r = cli("audit", "--env", "demo", "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = {d["domain"]: d for d in json.loads(r.stdout)["domains"]}
    assert doc["example.com"]["mta_sts_policy"] == {
        "source": "https://mta-sts.example.com/.well-known/mta-sts.txt",
        "mode": "enforce",
        "mx": ["smtp.google.com", "*.aspmx.l.google.com"],
        "max_age": 604800,
    }
    enforce = next(x for x in doc["example.com"]["risks"] if x["code"] == "MTA_STS_ENFORCE")
    assert enforce["severity"] == "high" and NEW_MX in enforce["detail"]
    assert doc["example.org"]["mta_sts_policy"] is None  # not in mta_sts.domains: not fetched
    text = cli("audit", "--env", "demo")
    assert (
        "MTA-STS policy (https://mta-sts.example.com/.well-known/mta-sts.txt): mode enforce, "
        "mx smtp.google.com, *.aspmx.l.google.com, max_age 604800" in text.stdout
    )

    saved = tmp_path / "policies"
    saved.mkdir()
    (saved / "example.com.txt").write_text(
        f"version: STSv1\nmode: testing\nmx: {NEW_MX}\nmax_age: 60\n"
    )
    r = cli("audit", "--env", "demo", "--format", "json", "--mta-sts-dir", str(saved))
    d = next(d for d in json.loads(r.stdout)["domains"] if d["domain"] == "example.com")
    assert d["mta_sts_policy"]["mode"] == "testing" and d["mta_sts_policy"]["max_age"] == 60


def test_audit_names_a_policy_it_cannot_fetch(project, cli, sts):
    srv, policy = sts
    policy.unlink()  # the web server answers 404
    r = cli("audit", "--env", "demo", "--format", "json")
    assert r.returncode == 0, r.stderr
    d = next(d for d in json.loads(r.stdout)["domains"] if d["domain"] == "example.com")
    assert "HTTP 404" in d["mta_sts_policy"]["error"]


def test_lint_does_not_warn_about_a_policy_the_stages_manage(project, cli, sts):
    r = cli("lint", "--env", "demo", "--stage", "prepare", "--json")
    assert r.returncode == 0, r.stderr
    assert "MTA_STS_PRESENT" not in r.stdout
    path = project / "environments" / "demo.yaml"
    data = yaml.safe_load(path.read_text())
    del data["mta_sts"]
    path.write_text(yaml.safe_dump(data))
    r = cli("lint", "--env", "demo", "--stage", "prepare", "--json")
    assert "MTA_STS_PRESENT" in r.stdout


def test_rollback_to_a_snapshot_restores_its_policy_exactly(project, cli, sts):
    _srv, policy = sts
    assert cli("prepare", "--env", "demo", "--yes").returncode == 0
    snap = runs(project)[0]["snapshot"]
    doc = json.loads(next(project.glob(f".cutover/demo/snapshots/{snap}*")).read_text())
    assert doc["mta_sts"] == {"example.com": ORIGINAL}  # the snapshot keeps the file replaced
    policy.write_text("version: STSv1\nmode: none\nmax_age: 60\n")  # even someone's edit
    r = cli("rollback", "--env", "demo", "--yes", "--snapshot", snap)
    assert r.returncode == 0, r.stderr
    assert read(policy) == ORIGINAL
    assert served_txt(project, "_mta-sts.example.com") == [OLD_ID]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_run_stopped_after_the_policy_and_before_the_zone_is_undone(project, cli, sts, sig):
    from tests.test_interrupted_runs import kill_at

    _srv, policy = sts
    before = zone_state(project, "example.com")
    code, _out, err = kill_at(
        project, "policy-published-1", sig, "prepare", "--env", "demo", "--yes"
    )
    assert code == (-signal.SIGKILL if sig == signal.SIGKILL else 128 + sig)
    assert read(policy) != ORIGINAL  # published, and journaled before any zone write
    assert zone_state(project, "example.com") == before
    if sig == signal.SIGTERM:
        assert "DNS unchanged, the MTA-STS policy of example.com was published" in err
    events = [e["event"] for e in journal(project)]
    closing = ["interrupted"] if sig == signal.SIGTERM else []  # SIGKILL: no closing event
    assert events == ["began", "policy_published", *closing]
    if sig == signal.SIGKILL:  # the lock of a killed run stays until someone removes it
        assert cli("unlock", "--env", "demo", "--yes").returncode == 0
    r = cli("cutover", "--env", "demo", "--yes")
    assert r.returncode == 1 and "prepare" in r.stderr  # the open run blocks the next stage
    r = cli("rollback", "--env", "demo", "--yes")
    assert r.returncode == 0, r.stderr
    assert read(policy) == ORIGINAL
    assert zone_state(project, "example.com") == before


def test_the_id_changes_only_once_the_web_server_serves_the_new_file(project, cli, sts):
    srv, policy = sts
    path = project / "environments" / "demo.yaml"
    data = yaml.safe_load(path.read_text())
    data["mta_sts"]["fetch"]["wait"] = 1  # seconds; the default is 60
    path.write_text(yaml.safe_dump(data))
    before = zone_state(project, "example.com")
    srv.stale["example.com"] = ORIGINAL  # a cache in front of the web server: yesterday's file
    r = cli("prepare", "--env", "demo", "--yes")
    assert r.returncode == 1
    assert "MTA-STS policy of example.com not served yet" in r.stderr
    assert "the _mta-sts id was left unchanged" in r.stderr
    assert read(policy) != ORIGINAL  # published and read back from the publish target...
    assert zone_state(project, "example.com") == before  # ...but no zone written
    assert served_txt(project, "_mta-sts.example.com") == [OLD_ID]
    r = cli("cutover", "--env", "demo", "--yes")
    assert r.returncode == 1 and "prepare" in r.stderr  # the failed run blocks the next stage
    r = cli("rollback", "--env", "demo", "--yes")  # does not wait on the stale server
    assert r.returncode == 0, r.stderr
    assert read(policy) == ORIGINAL

    del srv.stale["example.com"]
    r = cli("prepare", "--env", "demo", "--yes")
    assert r.returncode == 0, r.stderr
    assert served_txt(project, "_mta-sts.example.com") == [f"v=STSv1; id={policy_id(read(policy))}"]


def test_a_rerun_after_the_web_server_refusal_still_waits_for_it(project, cli, sts):
    """The run that published the file and was refused (not served yet) is run again: the file
    is already published, so nothing is left to publish, but the id must still wait until the
    web server serves the file (a sender would cache yesterday's file under the new id)."""
    srv, policy = sts
    path = project / "environments" / "demo.yaml"
    data = yaml.safe_load(path.read_text())
    data["mta_sts"]["fetch"]["wait"] = 1  # seconds; the default is 60
    path.write_text(yaml.safe_dump(data))
    before = zone_state(project, "example.com")
    srv.stale["example.com"] = ORIGINAL
    assert cli("prepare", "--env", "demo", "--yes").returncode == 1
    r = cli("prepare", "--env", "demo", "--yes")  # the web server still serves the old file
    assert r.returncode == 1, r.stderr
    assert "MTA-STS policy of example.com not served yet" in r.stderr
    assert zone_state(project, "example.com") == before
    assert served_txt(project, "_mta-sts.example.com") == [OLD_ID]
    del srv.stale["example.com"]
    r = cli("prepare", "--env", "demo", "--yes")
    assert r.returncode == 0, r.stderr
    assert served_txt(project, "_mta-sts.example.com") == [f"v=STSv1; id={policy_id(read(policy))}"]


def test_rollback_json_names_a_policy_conflict_and_a_policy_only_restore_is_a_change(
    project, cli, sts
):
    """`rollback --json` prints one document: a policy someone changed since is listed among
    the conflicts (it has no RRset key), and a rollback that only put a policy file back says
    it changed something."""
    _srv, policy = sts
    assert cli("prepare", "--env", "demo", "--yes").returncode == 0
    policy.write_text(read(policy).replace("max_age: 604800", "max_age: 86400"))
    r = cli("rollback", "--env", "demo", "--yes", "--json")
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    doc = json.loads(r.stdout)
    (conflict,) = doc["conflicts"]
    assert conflict["zone"] == "example.com" and "changed since the run" in conflict["message"]
    assert conflict["location"] == str(policy)
    r = cli("rollback", "--env", "demo", "--yes", "--force", "--json")
    assert r.returncode == 0, r.stderr
    assert read(policy) == ORIGINAL

    # a prepare refused after its publish: the rollback only puts the file back
    path = project / "environments" / "demo.yaml"
    data = yaml.safe_load(path.read_text())
    data["mta_sts"]["fetch"]["wait"] = 1
    path.write_text(yaml.safe_dump(data))
    _srv.stale["example.com"] = ORIGINAL
    assert cli("prepare", "--env", "demo", "--yes").returncode == 1
    r = cli("rollback", "--env", "demo", "--yes", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert read(policy) == ORIGINAL
    assert doc["applied_zones"] == [] and doc["changed"] is True


def test_finalize_back_to_the_original_file_still_changes_the_id(project, cli, sts):
    """The original already names only the new MX: finalize puts that very file back, and the id
    must move off prepare's, or senders keep the testing policy cached under it."""
    _srv, policy = sts
    original = f"version: STSv1\nmode: enforce\nmx: {NEW_MX}\nmax_age: 604800\n"
    policy.write_text(original)
    assert cli("prepare", "--env", "demo", "--yes").returncode == 0
    coexist = read(policy)
    assert coexist != original
    assert served_txt(project, "_mta-sts.example.com") == [f"v=STSv1; id={policy_id(coexist)}"]
    assert cli("cutover", "--env", "demo", "--yes", "--wait").returncode == 0
    r = cli("finalize", "--env", "demo", "--yes")
    assert r.returncode == 0, r.stderr
    assert read(policy) == original
    assert served_txt(project, "_mta-sts.example.com") == [f"v=STSv1; id={policy_id(original)}"]


def test_the_question_names_the_policy_files_a_run_changes(project, sts):
    from tests.terminal import run_on_terminal

    _srv, policy = sts
    code, out = run_on_terminal(project, "prepare", "--env", "demo", answer="n")
    assert "Apply prepare to 2 zone(s) and 1 MTA-STS policy file(s)?" in out, out
    assert code == 2 and read(policy) == ORIGINAL


def test_force_journals_every_check_it_overrides(project, cli, sts):
    srv, _policy = sts
    assert cli("prepare", "--env", "demo", "--yes").returncode == 0
    srv.stale["example.com"] = ORIGINAL  # the served policy lacks the new MX...
    # ...and the TTL gate is still closed: no --wait
    r = cli("cutover", "--env", "demo", "--yes", "--force")
    assert r.returncode == 0, r.stderr
    reason = runs(project)[-1]["forced_reason"]
    assert "does not list the new MX" in reason, reason
    assert "before the TTL gate" in reason, reason
