"""MTA-STS policies published to S3 (moto's HTTP server) on the Route53 provider, state in S3:
prepare puts the coexistence policy, reads it back, then bumps the `_mta-sts` id; a rollback
from a fresh machine with a broken environment file (`--state s3://...`, the settings copy)
puts the policy and the id back."""

from __future__ import annotations

import json

import yaml

from cutover.mtasts.policy import parse, policy_id
from tests.aws_helpers import BUCKET, PREFIX, demo_zone_text, write_route53_env
from tests.conftest import run_cli
from tests.lifecycle_helpers import runs_of

pytest_plugins = ["tests.aws_fixtures"]

POLICIES = "mta-sts-sites"
KEY = "sites/example.com/.well-known/mta-sts.txt"
ORIGINAL = "version: STSv1\r\nmode: enforce\r\nmx: smtp.google.com\r\nmax_age: 86400\r\n"


def test_s3_publish_then_id_then_rollback_from_the_settings_copy(project, aws, standins):
    text = demo_zone_text(project, "example.com") + '_mta-sts 2 IN TXT "v=STSv1; id=orig1"\n'
    zid = aws.seed_zone("example.com", text)
    env = write_route53_env(project, ["example.com"], standins)
    path = project / "environments" / f"{env}.yaml"
    data = yaml.safe_load(path.read_text())
    data["mta_sts"] = {
        "publish": {"s3": {"bucket": POLICIES, "key_prefix": "sites/"}},
        # no web server here: trust the bucket's read-back, never fetch mta-sts.example.com
        "fetch": {"wait": 0},
    }
    path.write_text(yaml.safe_dump(data))
    aws.s3.create_bucket(Bucket=POLICIES)
    aws.s3.put_object(Bucket=POLICIES, Key=KEY, Body=ORIGINAL.encode(), ContentType="text/plain")

    r = run_cli(project, "prepare", "--env", env, "--yes", env=aws.env)
    assert r.returncode == 0, r.stderr
    obj = aws.s3.get_object(Bucket=POLICIES, Key=KEY)
    published = obj["Body"].read().decode()
    assert obj["ContentType"] == "text/plain"
    p = parse(published)
    assert p.mode == "testing" and p.max_age == 86400
    assert p.mx == ("smtp.google.com", "example-com.mail.protection.outlook.com")
    txt = aws.dump(zid)[("_mta-sts.example.com.", "TXT")]
    assert txt == (1, [f'"v=STSv1; id={policy_id(published)}"'])

    journal = aws.s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/{env}/journal.jsonl")
    entries = [json.loads(x) for x in journal["Body"].read().decode().splitlines()]
    (prep,) = runs_of(entries)
    assert prep["policies"]["example.com"]["location"] == f"s3://{POLICIES}/{KEY}"
    published_events = [e for e in entries if e["event"] == "policy_published"]
    assert [e["domain"] for e in published_events] == ["example.com"]

    path.write_text("mta_sts: [broken\n")  # the environment file no longer parses
    r = run_cli(
        project,
        "rollback", "--env", env, "--yes", "--state", f"s3://{BUCKET}/{PREFIX}",
        env=aws.env,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    restored = aws.s3.get_object(Bucket=POLICIES, Key=KEY)["Body"].read().decode()
    assert restored == ORIGINAL
    assert aws.dump(zid)[("_mta-sts.example.com.", "TXT")] == (2, ['"v=STSv1; id=orig1"'])


def test_a_policy_object_that_is_not_utf8_is_one_line_and_nothing_changes(project, aws, standins):
    """As the directory target says of an unreadable file: exit 3, one line, no traceback."""
    text = demo_zone_text(project, "example.com") + '_mta-sts 2 IN TXT "v=STSv1; id=orig1"\n'
    zid = aws.seed_zone("example.com", text)
    env = write_route53_env(project, ["example.com"], standins)
    path = project / "environments" / f"{env}.yaml"
    data = yaml.safe_load(path.read_text())
    data["mta_sts"] = {
        "publish": {"s3": {"bucket": POLICIES, "key_prefix": "sites/"}},
        "fetch": {"wait": 0},
    }
    path.write_text(yaml.safe_dump(data))
    aws.s3.create_bucket(Bucket=POLICIES)
    aws.s3.put_object(Bucket=POLICIES, Key=KEY, Body=b"version: STSv1\r\nmode: \xff\r\n")
    before = aws.dump(zid)
    r = run_cli(project, "prepare", "--env", env, "--yes", env=aws.env)
    assert r.returncode == 3, r.stderr
    assert "Traceback" not in r.stderr and f"s3://{POLICIES}/{KEY}" in r.stderr, r.stderr
    assert aws.dump(zid) == before
