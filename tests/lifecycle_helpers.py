"""Reading zone files back, and making fast variants of the demo project for lifecycle tests."""

from __future__ import annotations

import json
from pathlib import Path

import dns.rdatatype
import dns.zone
import yaml


def zone_state(project: Path, zone: str) -> dict[tuple[str, str], tuple[int, list[str]]]:
    """Every RRset of a zone file but the SOA: (name, type) -> (ttl, sorted presentation values)."""
    path = project / "demo" / "zones" / f"{zone}.zone"
    return rrsets_of(dns.zone.from_file(str(path), origin=zone + ".", relativize=False))


def rrsets_of(z: dns.zone.Zone) -> dict[tuple[str, str], tuple[int, list[str]]]:
    """(name, type) -> (ttl, sorted presentation values) for every RRset of a zone but the SOA."""
    out = {}
    for name, rds in z.iterate_rdatasets():
        if rds.rdtype == dns.rdatatype.SOA:
            continue
        out[(name.to_text(), dns.rdatatype.to_text(rds.rdtype))] = (
            rds.ttl,
            sorted(rd.to_text() for rd in rds),
        )
    return out


def soa_serial(project: Path, zone: str) -> int:
    path = project / "demo" / "zones" / f"{zone}.zone"
    z = dns.zone.from_file(str(path), origin=zone + ".", relativize=False)
    return z.get_rdataset(z.origin, "SOA")[0].serial


def unmanaged(state: dict, zone: str) -> dict:
    """What the tool must never change: www, NS, ns1 and the apex TXT values it does not own."""
    apex = zone + "."
    txt = [v for v in state[(apex, "TXT")][1] if "spf1" not in v and "MS=" not in v]
    return {
        "txt": txt,
        "www": state[(f"www.{apex}", "A")],
        "ns": state[(apex, "NS")],
    }


def fast_demo(project: Path, old_ttl: int = 2, cutover_ttl: int = 1) -> None:
    """Shrink the demo's TTLs so the cutover gate opens in about `old_ttl` seconds."""
    for path in (project / "demo" / "zones").glob("*.zone"):
        path.write_text(path.read_text().replace(" 10 IN ", f" {old_ttl} IN "))
    env_path = project / "environments" / "demo.yaml"
    data = yaml.safe_load(env_path.read_text())
    data["ttl"] = {"cutover": cutover_ttl, "final": 60}
    env_path.write_text(yaml.safe_dump(data))


def journal(project: Path, env: str = "demo") -> list[dict]:
    path = project / ".cutover" / env / "journal.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def runs(project: Path, env: str = "demo") -> list[dict]:
    """The journal read as runs, written independently of cutover.journal: one dict per `began`
    with its stage, kind, the zones applied, the intermediate writes (`zone_step`) and the event
    that closed it (None: died)."""
    return runs_of(journal(project, env))


def runs_of(entries: list[dict]) -> list[dict]:
    out: dict[str, dict] = {}
    for e in entries:
        if e["event"] == "began":
            out[e["run"]] = {**e, "applied": [], "steps": [], "end": None}
        elif e["event"] == "zone_applied":
            out[e["run"]]["applied"].append(e["zone"])
        elif e["event"] == "zone_step":
            out[e["run"]]["steps"].append(e)
        elif e.get("run") in out:
            out[e["run"]]["end"] = e
    return list(out.values())


def write_server_env(project: Path, name: str, provider: dict, server_address: str) -> Path:
    """environments/<name>.yaml: the demo's migration on a provider whose test server (at
    `server_address`) also answers lint's questions; keys given as None are left out."""
    data = yaml.safe_load((project / "environments" / "demo.yaml").read_text())
    data["provider"] = {k: v for k, v in provider.items() if v is not None}
    data["lint"] = {"resolvers": [server_address]}
    data["validation"] = {"nameservers": "auto", "timeout": 20}
    path = project / "environments" / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
