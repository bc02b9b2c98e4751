"""The demo cutover on Route53 (moto's HTTP server) with state in S3, through the real program."""

from __future__ import annotations

import json

from tests.aws_helpers import BUCKET, PREFIX, SECRET, demo_zone_text, write_route53_env
from tests.conftest import run_cli
from tests.lifecycle_helpers import runs_of

pytest_plugins = ["tests.aws_fixtures"]

ZONES = ["example.com", "example.org", "example.net"]


def _setup(project, aws, standins, zones=ZONES):
    zids = {z: aws.seed_zone(z, demo_zone_text(project, z)) for z in zones}
    env = write_route53_env(project, zones, standins)
    return env, zids


def _cli(project, aws, *args):
    return run_cli(project, *args, env=aws.env)


def test_route53_lifecycle_prepare_cutover_finalize_and_exact_rollback(project, aws, standins):
    env, zids = _setup(project, aws, standins)
    original = {z: aws.dump(zid) for z, zid in zids.items()}
    outputs = []

    r = _cli(project, aws, "prepare", "--env", env, "--yes")
    outputs.append(r)
    assert r.returncode == 0, r.stderr
    after_prepare = {z: aws.dump(zid) for z, zid in zids.items()}
    for z in ZONES:
        state = after_prepare[z]
        assert state[(f"{z}.", "MX")] == (1, ["1 smtp.google.com."])  # TTL lowered only
        apex = state[(f"{z}.", "TXT")][1]
        assert '"v=spf1 include:_spf.google.com include:spf.protection.outlook.com ~all"' in apex
        # values we do not own: byte-identical, including the google-site-verification
        for kept in original[z][(f"{z}.", "TXT")][1]:
            if "spf1" not in kept:
                assert kept in apex
        assert state[(f"long.{z}.", "TXT")] == original[z][(f"long.{z}.", "TXT")]
        assert state[(f"selector1._domainkey.{z}.", "CNAME")][0] == 1

    r = _cli(project, aws, "cutover", "--env", env, "--yes", "--wait")
    outputs.append(r)
    assert r.returncode == 0, r.stderr
    after_cutover = {z: aws.dump(zid) for z, zid in zids.items()}
    for z in ZONES:
        dashed = z.replace(".", "-")
        assert after_cutover[z][(f"{z}.", "MX")] == (
            1,
            [f"0 {dashed}.mail.protection.outlook.com."],
        )
        assert after_cutover[z][(f"autodiscover.{z}.", "CNAME")] == (
            1,
            ["autodiscover.outlook.com."],
        )

    r = _cli(project, aws, "finalize", "--env", env, "--yes")
    outputs.append(r)
    assert r.returncode == 0, r.stderr
    fin = aws.dump(zids["example.com"])
    assert fin[("example.com.", "TXT")][0] == 60
    assert '"v=spf1 include:spf.protection.outlook.com ~all"' in fin[("example.com.", "TXT")][1]
    assert any("google-site-verification" in v for v in fin[("example.com.", "TXT")][1])
    assert ("google._domainkey.example.com.", "TXT") not in fin

    status = json.loads(_cli(project, aws, "status", "--env", env, "--json").stdout)
    assert status["current_stage"] == "finalize"
    assert status["verification"].startswith("provider change status only")

    for expected in (after_cutover, after_prepare, original):
        r = _cli(project, aws, "rollback", "--env", env, "--yes")
        outputs.append(r)
        assert r.returncode == 0, r.stderr
        assert {z: aws.dump(zid) for z, zid in zids.items()} == expected
    r = _cli(project, aws, "rollback", "--env", env, "--yes")
    assert r.returncode == 0 and "nothing to roll back" in r.stdout

    # the state lives in S3, not in .cutover/, and no file or output holds the secret key
    objects = aws.state_objects()
    assert f"{PREFIX}/{env}/journal.jsonl" in objects
    assert sum(k.startswith(f"{PREFIX}/{env}/snapshots/") for k in objects) == 6
    assert f"{PREFIX}/{env}/lock" not in objects
    journal = [json.loads(x) for x in objects[f"{PREFIX}/{env}/journal.jsonl"].splitlines()]
    assert [(r["kind"], r["end"]["event"]) for r in runs_of(journal)] == [
        ("stage", "completed")
    ] * 3 + [("rollback", "rolled_back")] * 3
    for body in objects.values():
        assert SECRET.encode() not in body
    local = project / ".cutover"
    for path in local.rglob("*") if local.exists() else []:
        assert not path.is_file() or SECRET.encode() not in path.read_bytes()
    for r in outputs:
        assert SECRET not in r.stdout + r.stderr
    assert BUCKET  # the bucket the env names is the one inspected above


def test_rollback_from_a_runner_with_no_environment_file_reads_the_settings_kept_in_s3(
    project, aws, standins
):
    """A CI runner that has the repository but not a readable environment file (it was being
    edited when things went wrong): `--state s3://bucket/prefix` finds the settings copy that
    the run kept beside its journal, and the rollback restores Route53 exactly (read by boto3)."""
    env, zids = _setup(project, aws, standins, zones=ZONES[:2])
    original = {z: aws.dump(zid) for z, zid in zids.items()}
    assert _cli(project, aws, "prepare", "--env", env, "--yes").returncode == 0
    assert {z: aws.dump(zid) for z, zid in zids.items()} != original
    (project / "environments" / f"{env}.yaml").write_text("provider: {type: route53\n")
    r = _cli(project, aws, "rollback", "--env", env, "--yes")
    assert r.returncode == 2 and "--state" in r.stderr, r.stderr  # no local state to look in
    r = _cli(project, aws, "rollback", "--env", env, "--yes", "--state", f"s3://{BUCKET}/{PREFIX}")
    assert r.returncode == 0, r.stderr
    assert {z: aws.dump(zid) for z, zid in zids.items()} == original
    kept = json.loads(aws.state_objects()[f"{PREFIX}/{env}/settings.json"])
    assert kept["provider"] == {"type": "route53"} and SECRET not in json.dumps(kept)
