"""Apply time and Route53 request counts for N zones on moto: mailcutover vs octodns-sync.

    python bench/apply.py [--zones 10 200] [--unmanaged 50] [--octo-venv PATH] [--both] [--write]
    python bench/apply.py --quick     # the CI guard: 20 zones, ours only

For each N: N hosted zones (the demo's example.com records renamed, plus `--unmanaged` unmanaged
A records each) are seeded into moto's HTTP server, running in this process behind a WSGI
wrapper that counts every request (tests/moto_server.py). Then:

- mailcutover (the real `cutover` program in a subprocess): prepare, cutover (`--force`: the
  benchmark does not wait out the TTL gate), rollback, rollback;
- octodns-sync --doit (octodns 1.22.0 + octodns-route53 1.3.1, installed by this script into its
  own venv) pushing the same record changes: the full zone contents our run left after each
  stage, dumped from moto, as octoDNS YAML (octoDNS manages whole zones, so it must be given
  every record). moto is reset and seeded again first, so both start from the same zones.

Both talk to moto through `AWS_ENDPOINT_URL_ROUTE_53`. Results are printed as a Markdown table
(and appended to bench/RESULTS.md with --write).

Two ways of counting: `moto` as it is (it answers a change INSYNC at once, so a client that
trusts that answer polls no GetChange), and `aws-like`, where the counting wrapper answers each
change PENDING with its own id, as AWS does, and moto's GetChange says INSYNC at the first poll.
`--quick` runs our four steps on 20 zones both ways and exits 1 when a stage costs more than 3
Route53 requests per zone on moto, every request of the stage counted (run-wide ones shared out
over the zones), or more than 3 per zone besides the run-wide zone listing in the aws-like count.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import boto3
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cutover.dnsserver import DNSServer  # noqa: E402
from tests.aws_helpers import Aws, demo_zone_text, write_route53_env  # noqa: E402
from tests.conftest import copy_project, run_cli  # noqa: E402
from tests.moto_server import MotoServer  # noqa: E402

SECRET = "bench-secret-not-real"
OCTO_PACKAGES = ["octodns==1.22.0", "octodns-route53==1.3.1"]


def octo_venv(path: Path) -> Path:
    """A venv with octoDNS and its Route53 provider (pip, from the package index)."""
    sync = path / "bin" / "octodns-sync"
    if not sync.exists():
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        subprocess.run([str(path / "bin" / "pip"), "install", "-q", *OCTO_PACKAGES], check=True)
    return sync


def zone_names(n: int) -> list[str]:
    return [f"d{i:04d}.example" for i in range(n)]


def seed(aws: Aws, project: Path, zones: list[str], unmanaged: int) -> dict[str, str]:
    zids = {}
    for z in zones:
        # octoDNS refuses non-ASCII TXT, so the test helper's "long" record stays out
        text = "".join(
            line + "\n"
            for line in demo_zone_text(project, z, ttl=60).splitlines()
            if not line.startswith("long ")
        )
        text += "".join(f"host{i} 300 IN A 192.0.2.{i % 250 + 1}\n" for i in range(unmanaged))
        zids[z] = aws.seed_zone(z, text)
    return zids


def route53_ops(before: Counter, after: Counter) -> Counter:
    return Counter({k: after[k] - before[k] for k in after if k.startswith("route53:")})


def row(tool: str, n: int, step: str, wall: float, ops: Counter, mode: str = "moto") -> dict:
    return {
        "tool": tool,
        "zones": n,
        "step": step,
        "mode": mode,
        "wall_s": round(wall, 2),
        "r53_requests": sum(ops.values()),
        "per_zone": round(sum(ops.values()) / n, 2),
        "listings": ops["route53:ListHostedZonesByName"] + ops["route53:ListHostedZones"],
        "getchange_per_zone": round(ops["route53:GetChange"] / n, 2),
        "changes_per_zone": round(ops["route53:ChangeResourceRecordSets"] / n, 2),
        "lists_per_zone": round(ops["route53:ListResourceRecordSets"] / n, 2),
        "other": sum(
            v
            for k, v in ops.items()
            if k not in ("route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets")
        ),
    }


def run_ours(server: MotoServer, aws: Aws, project: Path, zones: list[str], unmanaged: int):
    """Our four steps; returns the rows and the zone contents after each step (for octoDNS)."""
    # lint needs a resolver for the outside names (moto serves no DNS): the demo's stand-ins plus
    # each seeded zone's DKIM targets and MX host, written by demo_zone_text into lintzones/
    shutil.copytree(project / "demo" / "standins", project / "lintzones", dirs_exist_ok=True)
    zids = seed(aws, project, zones, unmanaged)
    lint_server = DNSServer([project / "lintzones"]).start()
    try:
        return _run_ours(server, aws, project, zones, zids, lint_server.address)
    finally:
        lint_server.stop()


def _run_ours(server, aws, project: Path, zones: list[str], zids: dict, lint_resolver: str):
    name = write_route53_env(project, zones, lint_resolver, state={"backend": "local"})
    states = {"original": {z: aws.dump(zid) for z, zid in zids.items()}}
    rows = []
    steps = [
        ("prepare", ["prepare", "--env", name, "--yes"]),
        ("cutover", ["cutover", "--env", name, "--yes", "--force"]),
        ("rollback 1", ["rollback", "--env", name, "--yes"]),
        ("rollback 2", ["rollback", "--env", name, "--yes"]),
    ]
    for step, args in steps:
        before = server.app.snapshot()
        t0 = time.perf_counter()
        r = run_cli(project, *args, env=aws.env, timeout=1800)
        wall = time.perf_counter() - t0
        if r.returncode != 0:
            raise SystemExit(f"{step} failed: {r.stderr.strip()}")
        ops = route53_ops(before, server.app.snapshot())
        mode = "aws-like" if server.app.pending_changes else "moto"
        rows.append(row("mailcutover", len(zones), step, wall, ops, mode))
        states[step] = {z: aws.dump(zid) for z, zid in zids.items()}
    assert states["rollback 2"] == states["original"], "rollback did not restore the zones"
    return rows, states


def octo_value(rtype: str, value: str):
    if rtype == "MX":
        pref, host = value.split()
        return {"preference": int(pref), "exchange": host}
    if rtype == "TXT":
        import dns.rdata

        from cutover.providers.route53_values import from_route53

        rd = dns.rdata.from_text("IN", "TXT", from_route53("TXT", value))
        return b"".join(rd.strings).decode().replace(";", "\\;")
    return value


def octo_yaml(zone: str, dump: dict) -> dict:
    out: dict[str, list] = {}
    for (name, rtype), (ttl, values) in sorted(dump.items()):
        rel = "" if name == zone + "." else name[: -len(zone) - 2]
        vals = [octo_value(rtype, v) for v in values]
        rec = {"ttl": int(ttl), "type": rtype}
        rec["values" if len(vals) > 1 else "value"] = vals if len(vals) > 1 else vals[0]
        out.setdefault(rel, []).append(rec)
    return out


def run_octo(server, aws, project, sync: Path, zones, unmanaged, states, workdir: Path):
    seed(aws, project, zones, unmanaged)
    config = {
        "providers": {
            "config": {
                "class": "octodns.provider.yaml.YamlProvider",
                "directory": "./zones",
                "default_ttl": 300,
                "enforce_order": False,
            },
            "route53": {
                "class": "octodns_route53.Route53Provider",
                "access_key_id": "env/AWS_ACCESS_KEY_ID",
                "secret_access_key": "env/AWS_SECRET_ACCESS_KEY",
            },
        },
        "zones": {f"{z}.": {"sources": ["config"], "targets": ["route53"]} for z in zones},
    }
    (workdir / "octodns.yaml").write_text(yaml.safe_dump(config))
    zdir = workdir / "zones"
    zdir.mkdir(exist_ok=True)
    rows = []
    env = {**os.environ, **aws.env}
    for step, target in (
        ("prepare", "prepare"),
        ("cutover", "cutover"),
        ("rollback 1", "prepare"),
        ("rollback 2", "original"),
    ):
        for z in zones:
            (zdir / f"{z}.yaml").write_text(yaml.safe_dump(octo_yaml(z, states[target][z])))
        before = server.app.snapshot()
        t0 = time.perf_counter()
        r = subprocess.run(
            [str(sync), "--config-file", "octodns.yaml", "--doit", "--force"],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
        )
        wall = time.perf_counter() - t0
        if r.returncode != 0:
            raise SystemExit(f"octodns-sync {step} failed: {r.stderr.strip()[-2000:]}")
        rows.append(
            row(
                "octodns-sync",
                len(zones),
                step,
                wall,
                route53_ops(before, server.app.snapshot()),
                "-",
            )  # fmt: skip
        )
    ids = {z: i for z, i in ((hz["Name"].rstrip("."), hz["Id"]) for hz in _zones(aws))}
    got = {z: aws.dump(ids[z]) for z in zones}
    same = got == states["original"]
    return rows, same


def _zones(aws: Aws):
    for page in aws.r53.get_paginator("list_hosted_zones").paginate():
        yield from page["HostedZones"]


def table(rows: list[dict]) -> str:
    cols = [
        "zones",
        "tool",
        "step",
        "mode",
        "wall_s",
        "r53_requests",
        "per_zone",
        "changes_per_zone",
        "lists_per_zone",
        "getchange_per_zone",
        "listings",
        "other",
    ]
    head = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    return head + "".join("| " + " | ".join(str(r[c]) for c in cols) + " |\n" for r in rows)


def commit() -> str:
    """The commit measured, and whether the tree differed from it."""
    git = ["git", "-C", str(REPO)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run([*git, "status", "--porcelain", "--", "cutover", "bench", "templates"],
                           capture_output=True, text=True).stdout.strip()  # fmt: skip
    return head.stdout.strip() + (" (with uncommitted changes)" if dirty else "")


def write_section(args, rows: list[dict], notes: list[str], started: float, load) -> None:
    """Replace the `## Route53 apply` section of bench/RESULTS.md (other sections stay)."""
    import re

    path = REPO / "bench" / "RESULTS.md"
    minutes = (time.monotonic() - started) / 60
    mode = (
        "ours both on moto as it is (changes answered INSYNC) and aws-like (changes answered "
        "PENDING with their own ids, INSYNC at the first poll)"
        if args.both
        else "aws-like (changes answered PENDING, INSYNC at the first poll)"
        if args.aws_like
        else "moto as it is (changes answered INSYNC)"
    )
    flags = " --both" if args.both else " --aws-like" if args.aws_like else ""
    command = f"python bench/apply.py --zones {' '.join(map(str, args.zones))}{flags} --write"
    body = "\n".join(
        [
            "## Route53 apply: mailcutover vs octodns-sync on moto (`bench/apply.py`)",
            "",
            f"Measured {time.strftime('%Y-%m-%d %H:%M %Z')} at commit {commit()} with "
            f"`{command}` ({minutes:.0f} minutes; {args.unmanaged} unmanaged A records per "
            f"zone; counted {mode}). Load average (1 min) {load[0]:.1f} at the start and "
            f"{os.getloadavg()[0]:.1f} at the end on {os.cpu_count()} cores (other sessions were "
            f"running tests): wall times are noisy, request counts are exact. Python "
            f"{platform.python_version()}.",
            "",
            table(rows).rstrip(),
            "",
            *(f"- {n}" for n in notes),
        ]
    )
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    pattern = re.compile(r"^## Route53 apply.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _m: body + "\n\n", text, count=1)
    else:
        text = text.rstrip() + "\n\n" + body + "\n"
    path.write_text(text.rstrip() + "\n")


def quick(unmanaged: int, n: int = 20, budget: float = 3.0) -> int:
    """20 zones, our four steps, counted on moto as it is and as AWS would answer."""
    server = MotoServer().start()
    env = server.env(SECRET)
    os.environ.update(env)
    kw = {"endpoint_url": server.url, "region_name": "us-east-1"}
    aws = Aws(server, env, boto3.client("route53", **kw), boto3.client("s3", **kw))
    rows: list[dict] = []
    try:
        for pending in (False, True):
            server.reset()
            server.app.pending_changes = pending
            with tempfile.TemporaryDirectory() as tmp:
                project = copy_project(Path(tmp) / "repo")
                ours, _ = run_ours(server, aws, project, zone_names(n), unmanaged)
                rows += ours
    finally:
        server.stop()
    print(table(rows))
    bad = []
    for r in rows:
        spent = r["r53_requests"] - (r["listings"] if r["mode"] == "aws-like" else 0)
        if spent / r["zones"] > budget:
            bad.append(f"{r['step']} ({r['mode']}): {spent / r['zones']:.2f} requests per zone")
    print(
        f"bench quick: Route53 requests per zone per stage, {n} zones: "
        + ", ".join(f"{r['step']} {r['per_zone']} ({r['mode']})" for r in rows)
        + f" (need <= {budget:g}; aws-like without the run-wide listing): "
        + ("ok" if not bad else "FAILED: " + "; ".join(bad)),
        flush=True,
    )
    return 1 if bad else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zones", type=int, nargs="+", default=[10, 200])
    ap.add_argument("--unmanaged", type=int, default=50)
    ap.add_argument(
        "--octo-venv", type=Path, default=Path.home() / ".cache" / "mailcutover-bench" / "venv-octo"
    )
    ap.add_argument("--no-octodns", action="store_true")
    ap.add_argument("--write", action="store_true", help="append the table to bench/RESULTS.md")
    ap.add_argument("--aws-like", action="store_true", help="count as AWS answers (see above)")
    ap.add_argument("--both", action="store_true", help="run ours counted both ways")
    ap.add_argument("--quick", action="store_true", help="the CI guard (see above)")
    args = ap.parse_args()
    if args.quick:
        return quick(args.unmanaged)
    sync = None if args.no_octodns else octo_venv(args.octo_venv)
    started, load = time.monotonic(), os.getloadavg()

    server = MotoServer().start()
    env = server.env(SECRET)
    os.environ.update(env)
    kw = {"endpoint_url": server.url, "region_name": "us-east-1"}
    aws = Aws(server, env, boto3.client("route53", **kw), boto3.client("s3", **kw))
    rows: list[dict] = []
    notes: list[str] = []
    modes = [False, True] if args.both else [args.aws_like]
    try:
        for n in args.zones:
            zones = zone_names(n)
            with tempfile.TemporaryDirectory() as tmp:
                for pending in modes:
                    server.reset()
                    server.app.pending_changes = pending
                    project = copy_project(Path(tmp) / f"repo-{pending}")
                    ours, states = run_ours(server, aws, project, zones, args.unmanaged)
                    rows += ours
                if sync is not None:
                    server.reset()
                    server.app.pending_changes = False
                    work = Path(tmp) / "octo"
                    work.mkdir()
                    theirs, same = run_octo(
                        server, aws, project, sync, zones, args.unmanaged, states, work
                    )
                    rows += theirs
                    notes.append(f"{n} zones: octodns-sync ended on the original zones: {same}")
                print(table([r for r in rows if r["zones"] == n]), flush=True)
    finally:
        server.stop()
    out = table(rows)
    print(out)
    print("\n".join(notes))
    if args.write:
        write_section(args, rows, notes, started, load)
    return 0


if __name__ == "__main__":
    sys.exit(main())
