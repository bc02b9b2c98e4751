"""The example plugin in docs/provider-plugin-example is installed as a package (pip, its own
pyproject and entry point) and the `cutover` program drives it by `provider.type` alone:
plan, prepare and rollback, each result read back from the JSON zone file itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cutover.providers import provider_class, registry
from cutover.records import RRset, txt_value
from tests.conftest import REPO, run_cli
from tests.standins import standins_address

EXAMPLE = REPO / "docs" / "provider-plugin-example"
ZONE = "example.com"
ENV = "plugin"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The example package installed into a folder of its own, offline, by pip."""
    target = tmp_path_factory.mktemp("plugin-site")
    build = tmp_path_factory.mktemp("plugin-build")
    r = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--no-build-isolation", "--no-cache-dir", "--target", str(target), str(EXAMPLE)],
        capture_output=True, text=True, timeout=300, cwd=build,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert (target / "mailcutover_jsonzone" / "__init__.py").is_file()
    return target


def original() -> list[RRset]:
    """example.com on Google Workspace, with records the tool must never touch."""
    return [
        RRset(ZONE, "MX", 3600, ("1 smtp.google.com.",)),
        RRset(ZONE, "TXT", 3600, (
            txt_value("v=spf1 include:_spf.google.com ~all"),
            txt_value("google-site-verification=plugin-Xy12"),
            '"unrelated-" "split-token"',
        )),
        RRset(f"_dmarc.{ZONE}", "TXT", 3600, (txt_value("v=DMARC1; p=none"),)),
        RRset(ZONE, "CAA", 3600, ('0 issue "letsencrypt.org"',)),
        RRset(f"www.{ZONE}", "A", 300, ("192.0.2.10",)),
    ]  # fmt: skip


def write_project(project: Path) -> Path:
    zones = project / "jsonzones"
    zones.mkdir()
    doc = {"rrsets": [r.to_dict() for r in original()]}
    (zones / f"{ZONE}.json").write_text(json.dumps(doc, indent=1))
    env = {
        "provider": {"type": "jsonzone", "directory": "jsonzones"},
        "migration": {"from": "google-workspace", "to": "microsoft365"},
        "ttl": {"cutover": 300, "final": 3600},
        "domains": {
            ZONE: {
                "to": {
                    "mx_host": "example-com.mail.protection.outlook.com",
                    "dkim_selector1_target": "selector1-example-com._domainkey.contoso.onmicrosoft.com",
                    "dkim_selector2_target": "selector2-example-com._domainkey.contoso.onmicrosoft.com",
                    "verification": "MS=ms11111111",
                }
            }
        },
        "validation": {"nameservers": "none", "timeout": 10},
        "lint": {"resolvers": [standins_address()]},
    }
    (project / "environments" / f"{ENV}.yaml").write_text(yaml.safe_dump(env, sort_keys=False))
    return zones / f"{ZONE}.json"


def on_disk(path: Path) -> dict[tuple[str, str], RRset]:
    """The zone as the JSON file holds it, read without the plugin or the tool's providers."""
    return {(r["name"], r["type"]): RRset.from_dict(r) for r in json.loads(path.read_text())["rrsets"]}  # fmt: skip


def cli(project: Path, site: Path, *args: str):
    return run_cli(project, *args, env={"PYTHONPATH": f"{REPO}{os.pathsep}{site}"})


def test_the_entry_point_is_discovered(site, monkeypatch):
    monkeypatch.syspath_prepend(str(site))
    assert registry.installed()["jsonzone"] == "mailcutover_jsonzone:JsonZoneProvider"
    cls = provider_class("jsonzone")
    assert cls.__name__ == "JsonZoneProvider" and "directory" in cls.options_schema


def test_plugin_runs_plan_prepare_rollback_through_the_cli(project, site):
    path = write_project(project)
    before = on_disk(path)

    r = cli(project, site, "plan", "--env", ENV, "--json")
    assert r.returncode == 0, r.stderr
    assert on_disk(path) == before  # plan writes nothing
    planned = json.loads(r.stdout)
    assert ZONE in json.dumps(planned)

    r = cli(project, site, "prepare", "--env", ENV, "--yes")
    assert r.returncode == 0, (r.stdout, r.stderr)
    after = on_disk(path)
    mx = after[(f"{ZONE}.", "MX")]
    assert mx.values == ("1 smtp.google.com.",) and mx.ttl == 300  # TTL lowered, MX kept
    apex_txt = after[(f"{ZONE}.", "TXT")].texts()
    assert "MS=ms11111111" in apex_txt and "unrelated-split-token" in apex_txt
    (spf,) = [t for t in apex_txt if t.startswith("v=spf1")]
    assert "include:_spf.google.com" in spf and "include:spf.protection.outlook.com" in spf
    for key in ((f"{ZONE}.", "CAA"), (f"www.{ZONE}.", "A")):
        assert after[key] == before[key]  # never ours: untouched

    r = cli(project, site, "rollback", "--env", ENV, "--yes")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert on_disk(path) == before
    raw = json.loads(path.read_text())["rrsets"]
    (txt,) = [x for x in raw if x["type"] == "TXT" and x["name"] == f"{ZONE}."]
    assert '"unrelated-" "split-token"' in txt["values"]  # its string split kept, byte for byte


def test_plugin_options_are_checked_by_its_schema(project, site):
    write_project(project)
    path = project / "environments" / f"{ENV}.yaml"
    data = yaml.safe_load(path.read_text())
    data["provider"]["nameservers"] = ["127.0.0.1:0"]
    path.write_text(yaml.safe_dump(data))
    r = cli(project, site, "plan", "--env", ENV)
    assert r.returncode == 2, r.stderr
    line = r.stderr.strip()
    assert len(line.splitlines()) == 1
    assert line.startswith(f"error: {path}: provider.nameservers[0]: ") and "port must be" in line


def test_without_the_package_the_type_is_unknown(project):
    write_project(project)
    r = run_cli(project, "plan", "--env", ENV)
    assert r.returncode == 2
    assert "provider.type: 'jsonzone' is not a known provider type" in r.stderr
