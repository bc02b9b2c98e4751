"""Bad input gets a one-line error naming what and where, exit 2, and changes nothing."""

import pytest
import yaml

from cutover.config import load_environment
from cutover.errors import DriftError
from cutover.providers import get_provider
from cutover.stages import build_plans
from tests.lifecycle_helpers import zone_state


def _edit_env(project, fn):
    path = project / "environments" / "demo.yaml"
    data = yaml.safe_load(path.read_text())
    fn(data)
    path.write_text(yaml.safe_dump(data))


def _assert_refused(project, cli, *expect):
    before = {z: zone_state(project, z) for z in ("example.com", "example.org")}
    r = cli("prepare", "--env", "demo", "--yes")
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    for text in expect:
        assert text in lines[0]
    assert {z: zone_state(project, z) for z in ("example.com", "example.org")} == before
    assert not list(project.glob(".cutover/demo/snapshots/*"))


def test_malformed_yaml_names_file_and_line(project, cli):
    path = project / "environments" / "demo.yaml"
    path.write_text(path.read_text().replace("migration:", "migration: [oops", 1))
    _assert_refused(project, cli, "demo.yaml:", "invalid YAML")


def test_unknown_key_names_the_key_path_and_allowed(project, cli):
    _edit_env(project, lambda d: d["ttl"].update({"cutvoer": 300}))
    _assert_refused(project, cli, "ttl.cutvoer", "unknown key", "allowed: cutover, final")


def test_unknown_profile_lists_the_known_ones(project, cli):
    _edit_env(project, lambda d: d["migration"].update({"to": "microsoft356"}))
    _assert_refused(project, cli, "migration.to", "microsoft356", "microsoft365")


def test_unknown_provider_type(project, cli):
    _edit_env(project, lambda d: d["provider"].update({"type": "godaddy"}))
    _assert_refused(project, cli, "provider.type", "godaddy", "route53")


def test_missing_template_input_names_input_and_domain(project, cli):
    _edit_env(project, lambda d: d["domains"]["example.org"]["to"].pop("dkim_selector1_target"))
    _assert_refused(project, cli, "dkim_selector1_target", "example.org")


def test_broken_user_template_is_reported(project, cli):
    (project / "templates").mkdir()
    (project / "templates" / "microsoft365.yaml.j2").write_text("mx: [{% if %}]\n")
    _assert_refused(project, cli, "microsoft365.yaml.j2")


def test_wrong_type_is_reported(project, cli):
    _edit_env(project, lambda d: d["ttl"].update({"cutover": "five"}))
    _assert_refused(project, cli, "ttl.cutover", "integer")


def test_no_terminal_and_no_yes_refuses(project, cli):
    before = zone_state(project, "example.com")
    r = cli("prepare", "--env", "demo")
    assert r.returncode == 2 and "--yes" in r.stderr
    assert zone_state(project, "example.com") == before


def test_drift_between_plan_and_apply_is_refused(project):
    env = load_environment("demo", project)
    provider = get_provider(env)
    try:
        plans = build_plans(env, provider, "prepare")
        path = project / "demo" / "zones" / "example.com.zone"
        path.write_text(path.read_text().replace("1 smtp.google.com.", "5 other.example.net."))
        edited = path.read_text()
        with pytest.raises(DriftError, match="changed since the plan"):
            provider.apply(plans[0].zone, plans[0])
        assert path.read_text() == edited  # nothing written
    finally:
        provider.close()


def test_tampered_snapshot_is_refused(project, cli):
    assert cli("prepare", "--env", "demo", "--yes").returncode == 0
    (snap,) = (project / ".cutover" / "demo" / "snapshots").glob("*.json")
    assert oct(snap.stat().st_mode & 0o777) == "0o600"
    snap.write_text(snap.read_text().replace('"ttl": 10', '"ttl": 11', 1))
    before = zone_state(project, "example.com")
    r = cli("rollback", "--env", "demo", "--yes", "--snapshot", snap.stem)
    assert r.returncode == 1 and "checksum" in r.stderr
    assert zone_state(project, "example.com") == before
    listing = cli("snapshots", "--env", "demo", "--json")
    assert '"valid": false' in listing.stdout
