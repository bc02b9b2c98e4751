"""Fixtures for Route53 and S3 through moto's HTTP server (tests/moto_server.py): use them with
`pytest_plugins = ["tests.aws_fixtures"]` in a test module."""

from __future__ import annotations

import boto3
import pytest

from cutover.dnsserver import DNSServer
from tests.aws_helpers import BUCKET, SECRET, Aws
from tests.moto_server import MotoServer


@pytest.fixture(scope="session")
def moto_server():
    srv = MotoServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def aws(moto_server, monkeypatch):
    """A reset moto, the env for CLI subprocesses, boto3 clients, and the state bucket."""
    moto_server.reset()
    env = moto_server.env(SECRET)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    kw = {"endpoint_url": moto_server.url, "region_name": "us-east-1"}
    r53 = boto3.client("route53", **kw)
    s3 = boto3.client("s3", **kw)
    s3.create_bucket(Bucket=BUCKET)
    return Aws(moto_server, env, r53, s3)


@pytest.fixture
def standins(project):
    """The lint resolver for Route53 envs (moto serves no DNS): the demo's stand-ins plus a copy
    of every zone seeded with demo_zone_text (project/lintzones)."""
    import shutil

    shutil.copytree(project / "demo" / "standins", project / "lintzones")
    with DNSServer([project / "lintzones"]) as srv:
        yield srv.address
