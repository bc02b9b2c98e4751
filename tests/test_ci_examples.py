"""The CI examples in docs/ci/ run: every shell step of every job, as the platform would run it,
against a copy of the demo project, so the examples cannot rot.

A small simulator reads each file with PyYAML, picks the jobs an event runs (GitHub `if:`
expressions and GitLab `rules:`, evaluated for the few forms the examples use), and runs each
job's shell with bash -eo pipefail in the project copy, with CUTOVER_ENV=demo in place of the
example's environment and a `cutover` on PATH that runs this repository's code. Nothing of ours
is stubbed. Skipped, and counted: steps that only talk to the CI platform (`uses:` actions,
`gh` calls, `curl` to the GitLab API) and the `pip install mailcutover` line, for which the
`cutover` shim stands in. Every other step must have run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, copy_project
from tests.lifecycle_helpers import zone_state

CI = REPO / "docs" / "ci"
GITHUB = CI / "github-actions.yml"
GITLAB = CI / "gitlab-ci.yml"
ZONES = ("example.com", "example.org")
ARTIFACTS = ("plan.json", "plan.md", "validate.xml")
SECRET_VARS = ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "CLOUDFLARE_API_TOKEN",
               "CUTOVER_TSIG_SECRET", "GITLAB_TOKEN", "GH_TOKEN")  # fmt: skip

INSTALL = re.compile(r"^\s*(python3? -m )?pip install mailcutover\s*$")
GH_CALL = re.compile(r"^\s*gh\s")
GITLAB_API = re.compile(r"\bcurl\b.*\$\{?CI_API_V4_URL")
EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


# ---------------------------------------------------------------------------------------------
# The two files, read as data


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def github_triggers(wf: dict) -> dict:
    return wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` as True


@dataclass
class Unit:
    """One step (GitHub) or one script line (GitLab) and what the simulator does with it."""

    job: str
    label: str
    script: str | None  # None: a `uses:` action
    kind: str  # shell | platform | install
    phase: str = "steps"  # GitLab: before_script | script | after_script
    step: dict = field(default_factory=dict)


def classify(script: str | None) -> str:
    if script is None:
        return "platform"
    if INSTALL.match(script):
        return "install"
    lines = [ln for ln in script.splitlines() if ln.strip()]
    if lines and all(GH_CALL.match(ln) or GITLAB_API.search(ln) for ln in lines):
        return "platform"
    return "shell"


def github_units(wf: dict, job: str) -> list[Unit]:
    out = []
    for i, step in enumerate(wf["jobs"][job]["steps"]):
        script = step.get("run")
        label = step.get("name") or step.get("uses") or f"step {i}"
        out.append(Unit(job, label, script, classify(script), step=step))
    return out


def gitlab_units(doc: dict, job: str) -> list[Unit]:
    spec, default = doc[job], doc.get("default", {})
    out = []
    for phase in ("before_script", "script", "after_script"):
        for line in spec.get(phase, default.get(phase, [])):
            out.append(Unit(job, line, line, classify(line), phase=phase))
    return out


def all_units() -> list[Unit]:
    wf, gl = load(GITHUB), load(GITLAB)
    units = [u for job in wf["jobs"] for u in github_units(wf, job)]
    return units + [u for job in gitlab_jobs(gl) for u in gitlab_units(gl, job)]


def gitlab_jobs(doc: dict) -> list[str]:
    return [k for k, v in doc.items() if isinstance(v, dict) and "script" in v]


# ---------------------------------------------------------------------------------------------
# Conditions: the few expression forms the examples use, evaluated for real


def github_if(expr: str | None, ctx: dict) -> bool:
    """`a.b == 'x' || a.b != 'y' && needs.j.outputs.o == '5'`, with `ctx` for the names."""
    if expr is None:
        return True
    expr = EXPR.sub(r"\1", expr)
    assert re.fullmatch(r"[\w.\s'=!|&()-]*", expr), f"expression form not simulated: {expr}"
    py = expr.replace("||", " or ").replace("&&", " and ")
    py = re.sub(r"!(?!=)", " not ", py)
    py = re.sub(r"\b[a-z_]+(?:\.[\w-]+)+", lambda m: f"ctx[{m.group(0)!r}]", py)
    return bool(eval(py, {"ctx": _Ctx(ctx)}))  # noqa: S307 - our own file, checked form


class _Ctx(dict):
    def __missing__(self, key):
        raise AssertionError(f"the simulator has no value for {key}")


def gitlab_rule_matches(rule_if: str, variables: dict) -> bool:
    """`$A == "x" && $B == $C`: the rule forms the example uses."""
    for clause in rule_if.split("&&"):
        m = re.fullmatch(r'\s*\$(\w+)\s*(==|!=)\s*(?:"([^"]*)"|\$(\w+))\s*', clause)
        assert m, f"rule form not simulated: {rule_if}"
        left = variables.get(m.group(1), "")
        right = m.group(3) if m.group(3) is not None else variables.get(m.group(4), "")
        if (left == right) != (m.group(2) == "=="):
            return False
    return True


def gitlab_rule(spec: dict, variables: dict) -> dict | None:
    """The first matching rule of a job (None: the job is not in the pipeline)."""
    for rule in spec.get("rules", [{}]):
        if "if" not in rule or gitlab_rule_matches(rule["if"], variables):
            return None if rule.get("when") == "never" else rule
    return None


# ---------------------------------------------------------------------------------------------
# Running a job's shell


@dataclass
class Ran:
    unit: Unit
    returncode: int
    output: str


@dataclass
class JobResult:
    job: str
    ran: list[Ran]
    skipped: list[Unit]
    outputs: dict[str, str]

    @property
    def ok(self) -> bool:
        return all(r.returncode == 0 for r in self.ran if r.unit.phase != "after_script")

    def rc(self, needle: str) -> int:
        """The exit code of the one unit that ran a line containing `needle`."""
        hits = [r for r in self.ran if needle in (r.unit.script or "")]
        assert len(hits) == 1, (needle, [r.unit.label for r in self.ran])
        return hits[0].returncode

    def log(self) -> str:
        return "\n".join(f"--- {r.unit.label} (exit {r.returncode})\n{r.output}" for r in self.ran)


class Runner:
    """The project copy, the `cutover` shim and the process environment every job gets."""

    def __init__(self, tmp: Path):
        self.project = copy_project(tmp / "repo")
        self.bindir = tmp / "bin"
        self.bindir.mkdir()
        self.scratch = tmp / "scratch"
        self.scratch.mkdir()
        shim = self.bindir / "cutover"
        shim.write_text(
            f"#!/bin/sh\nexec '{sys.executable}' -c 'from cutover.cli import main; main()' \"$@\"\n"
        )
        py = self.bindir / "python"  # what actions/setup-python or the python image provide
        py.write_text(f"#!/bin/sh\nexec '{sys.executable}' \"$@\"\n")
        for f in (shim, py):
            f.chmod(0o755)
        self.base_env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("CUTOVER_", "GITHUB_", "CI_", "AWS_", "CLOUDFLARE_", "GITLAB_"))
            and k not in ("PYTHONPATH", "VIRTUAL_ENV")
        }
        self.base_env["PATH"] = (
            f"{self.bindir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"
        )
        self.base_env["PYTHONPATH"] = str(REPO)
        self.count = 0

    def bash(self, script: str, env: dict) -> tuple[int, str]:
        self.count += 1
        path = self.scratch / f"step{self.count}.sh"
        path.write_text(script)
        r = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(path)],
            cwd=self.project,
            env={**self.base_env, **env, "CUTOVER_ENV": "demo"},
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )
        return r.returncode, r.stdout + r.stderr

    def clean_artifacts(self) -> None:
        for name in ARTIFACTS:
            (self.project / name).unlink(missing_ok=True)

    def zones(self) -> dict:
        return {z: zone_state(self.project, z) for z in ZONES}


def literal_env(mapping: dict | None, inputs: dict) -> dict[str, str]:
    """`env:` as the job sees it: literals as written, `${{ inputs.X }}` from `inputs`, and no
    other expression (secrets and the github context are the platform's)."""
    out = {}
    for key, value in (mapping or {}).items():
        value = str(value)
        m = EXPR.fullmatch(value.strip())
        if m and m.group(1).startswith("inputs."):
            out[key] = inputs[m.group(1).removeprefix("inputs.")]
        elif not EXPR.search(value):
            out[key] = value
    return out


class GitHubCI:
    def __init__(self, runner: Runner):
        self.r = runner
        self.wf = load(GITHUB)
        self.summaries: dict[str, str] = {}  # $GITHUB_STEP_SUMMARY of each job's last run

    def event(self, name: str, inputs: dict | None = None) -> dict[str, JobResult]:
        """Run every job the event starts, in `needs` order, as an approving reviewer would."""
        self.r.clean_artifacts()
        inputs = inputs or {}
        ctx = {"github.event_name": name}
        results: dict[str, JobResult] = {}
        for job, spec in self.wf["jobs"].items():
            needs = spec.get("needs", [])
            needs = [needs] if isinstance(needs, str) else needs
            assert all(n in results or not self._runs(n, ctx) for n in needs), job
            if any(n in results and not results[n].ok for n in needs):
                continue
            if self._runs(job, ctx):
                results[job] = self.run_job(job, inputs)
                for key, value in results[job].outputs.items():
                    ctx[f"needs.{job}.outputs.{key}"] = value
        return results

    def _runs(self, job: str, ctx: dict) -> bool:
        spec = self.wf["jobs"][job]
        ctx = _Ctx(ctx)
        needs = spec.get("needs", [])
        for need in [needs] if isinstance(needs, str) else needs:
            for key in self.wf["jobs"][need].get("outputs", {}):  # never written: ''
                ctx.setdefault(f"needs.{need}.outputs.{key}", "")
        return github_if(spec.get("if"), ctx)

    def run_job(self, job: str, inputs: dict) -> JobResult:
        spec = self.wf["jobs"][job]
        out_file = self.r.scratch / f"{job}-{self.r.count}.output"
        summary = self.r.scratch / f"{job}-{self.r.count}.summary"
        ran, skipped, failed = [], [], False
        for unit in github_units(self.wf, job):
            cond = unit.step.get("if", "")
            if failed and "always()" not in cond and "!cancelled()" not in cond:
                continue
            if unit.kind != "shell":
                skipped.append(unit)
                continue
            env = {
                **literal_env(self.wf.get("env"), inputs),
                **literal_env(spec.get("env"), inputs),
                **literal_env(unit.step.get("env"), inputs),
                "GITHUB_OUTPUT": str(out_file),
                "GITHUB_STEP_SUMMARY": str(summary),
            }
            rc, output = self.r.bash(unit.script, env)
            ran.append(Ran(unit, rc, output))
            if rc and not unit.step.get("continue-on-error"):
                failed = True
        outputs = {}
        if out_file.exists():
            outputs = dict(ln.split("=", 1) for ln in out_file.read_text().splitlines() if ln)
        self.summaries[job] = summary.read_text() if summary.exists() else ""
        return JobResult(job, ran, skipped, outputs)


class GitLabCI:
    def __init__(self, runner: Runner):
        self.r = runner
        self.doc = load(GITLAB)
        git = ["git", "-c", "user.name=ci", "-c", "user.email=ci@localhost"]
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=runner.project, check=True)
        subprocess.run([*git, "add", "-A"], cwd=runner.project, check=True)
        subprocess.run([*git, "commit", "-qm", "base"], cwd=runner.project, check=True)
        self.sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=runner.project, capture_output=True, text=True
        ).stdout.strip()

    def variables(self, source: str, extra: dict | None) -> dict[str, str]:
        v = {
            "CI_PIPELINE_SOURCE": source,
            "CI_DEFAULT_BRANCH": "main",
            "CI_COMMIT_SHA": self.sha,
            "CI_PROJECT_ID": "1",
        }
        if source == "merge_request_event":
            v.update(CI_MERGE_REQUEST_IID="7", CI_MERGE_REQUEST_DIFF_BASE_SHA=self.sha)
        else:
            v["CI_COMMIT_BRANCH"] = "main"
        for key, value in (self.doc.get("variables") or {}).items():
            v[key] = str(value["value"] if isinstance(value, dict) else value)
        v.update(extra or {})
        return v

    def pipeline(self, source: str, click: tuple = (), extra: dict | None = None):
        """Run a pipeline: its automatic jobs, then the manual ones in `click`, stage order.
        Returns (results, manual jobs offered)."""
        self.r.clean_artifacts()
        v = self.variables(source, extra)
        assert gitlab_rule({"rules": self.doc["workflow"]["rules"]}, v) is not None, source
        order = {s: i for i, s in enumerate(self.doc["stages"])}
        jobs = sorted(gitlab_jobs(self.doc), key=lambda j: order[self.doc[j]["stage"]])
        results, manual = {}, []
        for job in jobs:
            rule = gitlab_rule(self.doc[job], v)
            if rule is None:
                continue
            if rule.get("when") == "manual":
                manual.append(job)
                if job not in click:
                    continue
            needs = self.doc[job].get("needs", [])
            if any(n in results and not results[n].ok for n in needs):
                continue
            results[job] = self.run_job(job, v)
        return results, manual

    def run_job(self, job: str, v: dict) -> JobResult:
        units = gitlab_units(self.doc, job)
        env = {**v, **{k: str(x) for k, x in (self.doc[job].get("variables") or {}).items()}}
        trace = self.r.scratch / f"{job}-{self.r.count}.trace"
        main = [u for u in units if u.phase != "after_script"]
        body = []
        for i, u in enumerate(main):
            if u.kind == "shell":
                body += [u.script, f"echo {i} >> '{trace}'"]
        rc, output = self.r.bash("\n".join(body) + "\n", env)
        done = {int(x) for x in trace.read_text().split()} if trace.exists() else set()
        shell = [i for i, u in enumerate(main) if u.kind == "shell"]
        ran = []
        for i in shell:
            if i in done:
                ran.append(Ran(main[i], 0, output))
            else:  # the line that failed; nothing after it ran
                ran.append(Ran(main[i], rc or 1, output))
                break
        for u in units:
            if u.phase == "after_script" and u.kind == "shell":
                arc, aout = self.r.bash(u.script, env)
                ran.append(Ran(u, arc, aout))
        skipped = [u for u in units if u.kind != "shell"]
        return JobResult(job, ran, skipped, {})


# ---------------------------------------------------------------------------------------------
# Fixtures and checks shared by both platforms


@pytest.fixture
def runner(tmp_path: Path) -> Runner:
    r = Runner(tmp_path)
    probe = subprocess.run(
        ["bash", "-c", "command -v cutover; cutover --version"],
        env=r.base_env, capture_output=True, text=True, cwd=r.project,
    )  # fmt: skip
    assert probe.stdout.splitlines()[0] == str(r.bindir / "cutover"), probe.stdout
    assert probe.returncode == 0, probe.stderr
    return r


def platform_for(kind: str, runner: Runner):
    return GitHubCI(runner) if kind == "github" else GitLabCI(runner)


def every_shell_unit_ran(result: JobResult, units: list[Unit]) -> None:
    """All but the platform and install units ran; the skipped ones are exactly those."""
    ran = [r.unit.label for r in result.ran]
    shell = [u.label for u in units if u.kind == "shell"]
    assert ran == shell, f"{result.job}: ran {ran}, expected {shell}\n{result.log()}"
    assert {u.label for u in result.skipped} == {u.label for u in units if u.kind != "shell"}


def units_of(ci, job: str) -> list[Unit]:
    return github_units(ci.wf, job) if isinstance(ci, GitHubCI) else gitlab_units(ci.doc, job)


def junit(path: Path) -> ET.Element:
    assert path.is_file(), f"{path.name} not written"
    root = ET.parse(path).getroot()
    return root if root.tag == "testsuite" else root.find("testsuite")


def counts(suite: ET.Element) -> tuple[int, int, int]:
    cases = suite.findall("testcase")
    failures = sum(1 for c in cases if c.find("failure") is not None)
    errors = sum(1 for c in cases if c.find("error") is not None)
    assert int(suite.get("tests")) == len(cases)
    assert int(suite.get("failures", 0)) == failures and int(suite.get("errors", 0)) == errors
    return len(cases), failures, errors


def check_plan_artifacts(project: Path) -> dict:
    import json

    plan = json.loads((project / "plan.json").read_text())
    assert plan["stage"] == "prepare"
    md = (project / "plan.md").read_text()
    assert "example.com" in md and "example.org" in md and "prepare" in md
    assert "selector1" in md, md  # the records the stage adds are in the comment
    assert "\x1b[" not in md and "┏" not in md, "plan.md holds terminal rendering"
    return plan


def check_prepared(before: dict, after: dict) -> None:
    """prepare, as the demo renders it: MX TTL lowered, Microsoft's DKIM CNAMEs, SPF union."""
    for z in ZONES:
        assert after[z][(z + ".", "MX")] == (5, ["1 smtp.google.com."]), after[z]
        assert (f"selector1._domainkey.{z}.", "CNAME") in after[z]
        spf = [v for v in after[z][(z + ".", "TXT")][1] if "spf1" in v]
        assert spf == ['"v=spf1 include:_spf.google.com include:spf.protection.outlook.com ~all"']
        assert after[z][(f"www.{z}.", "A")] == before[z][(f"www.{z}.", "A")]


def drift_spf(project: Path, zone: str = "example.com") -> None:
    """Someone edits DNS out of band: the SPF record (owned by every stage) gets another value.
    The zone file is the demo's DNS. (Not MX: prepare only lowers its TTL, whatever it holds.)"""
    path = project / "demo" / "zones" / f"{zone}.zone"
    text, n = re.subn(r'"v=spf1 [^"]*"', '"v=spf1 include:mailgun.org ~all"', path.read_text())
    assert n == 1, text
    path.write_text(text)


# ---------------------------------------------------------------------------------------------
# The files themselves


def test_the_examples_parse_and_every_step_is_classified():
    units = all_units()
    assert units and all(u.kind in ("shell", "platform", "install") for u in units)
    for u in units:
        if u.script is None:
            continue
        assert "${{" not in u.script, f"{u.job}/{u.label}: an expression inside run: {u.script}"
        if u.kind == "shell":  # the steps that see credentials never write them anywhere
            for var in SECRET_VARS:
                assert var not in u.script, f"{u.job}/{u.label} names {var}"
    # what is skipped: the platform's own steps and the install, nothing else
    skipped = sorted({(u.job, u.label) for u in units if u.kind == "platform"})
    gh_skipped = [u for u in units if u.kind == "platform" and u.script is not None]
    assert [u.job for u in gh_skipped] == ["plan", "plan"], gh_skipped  # gh comment, curl note
    assert all(u.kind == "install" for u in units if "pip install" in (u.script or ""))
    assert skipped
    # every job installs the tool once, before its first shell step
    wf = load(GITHUB)
    for job in wf["jobs"]:
        kinds = [u.kind for u in github_units(wf, job) if u.script is not None]
        assert kinds[0] == "install" and kinds.count("install") == 1, (job, kinds)
    gl = load(GITLAB)
    assert [classify(x) for x in gl["default"]["before_script"]] == ["install"]
    assert not any("before_script" in gl[job] for job in gitlab_jobs(gl))


def test_github_workflow_shape():
    wf = load(GITHUB)
    on = github_triggers(wf)
    assert "pull_request" in on and on["push"]["branches"] == ["main"] and "schedule" in on
    assert {"environment", "state"} <= set(on["workflow_dispatch"]["inputs"])
    jobs = wf["jobs"]
    assert set(jobs) == {"plan", "validate", "apply", "rollback"}
    assert jobs["apply"]["needs"] == "plan" and jobs["apply"]["environment"] == "prod"
    assert "required reviewers" in GITHUB.read_text().lower()
    assert jobs["rollback"]["env"]["CUTOVER_ENV"] == "${{ inputs.environment }}"
    for job in ("apply", "rollback"):
        assert jobs[job]["concurrency"]["cancel-in-progress"] is False
    uses = [s["uses"].split("@")[0] for j in jobs.values() for s in j["steps"] if "uses" in s]
    assert "actions/upload-artifact" in uses and "actions/download-artifact" in uses
    assert "mikepenz/action-junit-report" in uses


def test_gitlab_file_shape():
    doc = load(GITLAB)
    assert set(gitlab_jobs(doc)) == {"plan", "validate", "apply", "rollback"}
    assert doc["validate"]["artifacts"]["reports"]["junit"] == "validate.xml"
    assert set(doc["plan"]["artifacts"]["paths"]) == {"plan.json", "plan.md"}
    assert doc["plan"]["artifacts"]["when"] == "always"
    for job in ("apply", "rollback"):
        assert all(r.get("when") == "manual" for r in doc[job]["rules"]), job
        assert doc[job]["environment"]["name"] == "$CUTOVER_ENV"
        assert doc[job]["resource_group"] == "mailcutover-$CUTOVER_ENV"
    assert doc["apply"]["needs"] == ["plan"]


def test_which_jobs_each_event_starts():
    wf = load(GITHUB)

    def started(event, exit_code="5"):
        ctx = {"github.event_name": event, "needs.plan.outputs.exit_code": exit_code}
        return {j for j, s in wf["jobs"].items() if github_if(s.get("if"), _Ctx(ctx))}

    assert started("pull_request") == {"plan", "validate"}
    assert started("push") == {"plan", "validate", "apply"}
    assert started("push", exit_code="0") == {"plan", "validate"}  # nothing to apply
    assert started("schedule") == {"validate"}
    assert started("workflow_dispatch") == {"rollback"}

    doc = load(GITLAB)

    def gl(source, mr=False):
        v = {"CI_PIPELINE_SOURCE": source, "CI_DEFAULT_BRANCH": "main"}
        if not mr:
            v["CI_COMMIT_BRANCH"] = "main"
        out = {}
        for job in gitlab_jobs(doc):
            rule = gitlab_rule(doc[job], v)
            if rule is not None:
                out[job] = rule.get("when", "on_success")
        return out

    assert gl("merge_request_event", mr=True) == {"plan": "on_success", "validate": "on_success"}
    assert gl("push") == {"plan": "on_success", "validate": "on_success", "apply": "manual",
                          "rollback": "manual"}  # fmt: skip
    assert gl("schedule") == {"validate": "on_success", "rollback": "manual"}
    assert gl("web") == {"validate": "on_success", "rollback": "manual"}


# ---------------------------------------------------------------------------------------------
# The jobs, run against the demo


@pytest.mark.parametrize("platform", ["github", "gitlab"])
def test_pull_request_merge_apply_validate_and_rollback(runner, platform):
    ci = platform_for(platform, runner)
    original = runner.zones()

    # the pull request: a plan to comment and keep, and the validate gate
    if platform == "github":
        res = ci.event("pull_request")
    else:
        res, manual = ci.pipeline("merge_request_event")
        assert manual == []
    assert set(res) == {"plan", "validate"}
    for job in res:
        every_shell_unit_ran(res[job], units_of(ci, job))
    assert res["validate"].ok, res["validate"].log()  # before any stage: in sync with `from`
    tests, failures, errors = counts(junit(runner.project / "validate.xml"))
    assert tests > 0 and failures == errors == 0
    assert res["plan"].ok, res["plan"].log()
    check_plan_artifacts(runner.project)
    if platform == "github":
        assert res["plan"].outputs == {"exit_code": "5"}  # changes pending
        assert "selector1" in ci.summaries["plan"]
    assert runner.zones() == original  # a plan changes nothing

    # the merge: plan again, a reviewer approves, apply runs exactly that plan
    if platform == "github":
        res = ci.event("push")
    else:
        res, manual = ci.pipeline("push", click=("apply",))
        assert manual == ["apply", "rollback"]
    assert set(res) == {"plan", "validate", "apply"}, {j: r.log() for j, r in res.items()}
    assert res["plan"].ok, res["plan"].log()
    assert res["apply"].ok, res["apply"].log()
    every_shell_unit_ran(res["apply"], units_of(ci, "apply"))
    prepared = runner.zones()
    check_prepared(original, prepared)

    # the schedule: validate agrees with the stage now in place
    res = ci.event("schedule") if platform == "github" else ci.pipeline("schedule")[0]
    assert set(res) == {"validate"}
    assert res["validate"].ok, res["validate"].log()
    tests, failures, errors = counts(junit(runner.project / "validate.xml"))
    assert tests > 0 and failures == errors == 0

    # the on-call: the manual rollback
    if platform == "github":
        res = ci.event("workflow_dispatch", {"environment": "demo", "state": ""})
    else:
        res, _ = ci.pipeline("web", click=("rollback",))
        res.pop("validate")
    assert set(res) == {"rollback"}
    assert res["rollback"].ok, res["rollback"].log()
    every_shell_unit_ran(res["rollback"], units_of(ci, "rollback"))
    assert runner.zones() == original


@pytest.mark.parametrize("platform", ["github", "gitlab"])
def test_validate_job_exits_1_on_drift_with_a_failing_testcase(runner, platform):
    ci = platform_for(platform, runner)
    r = subprocess.run(["cutover", "prepare", "--env", "demo", "--yes"], cwd=runner.project,
                       env=runner.base_env, capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr
    drift_spf(runner.project)
    res = ci.event("schedule") if platform == "github" else ci.pipeline("schedule")[0]
    validate = res["validate"]
    assert validate.rc("cutover validate") == 1, validate.log()
    every_shell_unit_ran(validate, units_of(ci, "validate"))
    suite = junit(runner.project / "validate.xml")
    tests, failures, errors = counts(suite)
    failing = {
        (c.get("classname"), c.get("name")): c.find("failure").get("type")
        for c in suite.findall("testcase")
        if c.find("failure") is not None
    }
    # the drifted record fails, and so does the lint of what is now served (its own testcase)
    assert failing == {
        ("example.com", "example.com. TXT"): "VALUE_MISMATCH",
        ("lint.example.com", "SPF_UNION_INCOMPLETE @ TXT"): "SPF_UNION_INCOMPLETE",
    }, failing
    assert errors == 0 and tests > 1


@pytest.mark.parametrize("platform", ["github", "gitlab"])
def test_validate_job_exits_3_when_no_server_answers(runner, platform):
    env_file = runner.project / "environments" / "demo.yaml"
    data = yaml.safe_load(env_file.read_text())
    data["validation"]["nameservers"] = ["127.0.0.1:9"]  # discard port: nothing answers
    env_file.write_text(yaml.safe_dump(data))
    ci = platform_for(platform, runner)
    res = ci.event("schedule") if platform == "github" else ci.pipeline("schedule")[0]
    validate = res["validate"]
    assert validate.rc("cutover validate") == 3, validate.log()
    tests, failures, errors = counts(junit(runner.project / "validate.xml"))
    assert errors == tests and failures == 0  # no answer is an <error>, not a failure


@pytest.mark.parametrize("platform", ["github", "gitlab"])
def test_apply_job_refuses_a_plan_that_dns_moved_past(runner, platform):
    ci = platform_for(platform, runner)
    if platform == "github":
        res = {"plan": ci.run_job("plan", {})}
    else:
        res = {"plan": ci.run_job("plan", ci.variables("push", None))}
    assert res["plan"].ok, res["plan"].log()
    assert (runner.project / "plan.json").is_file()
    drift_spf(runner.project)  # after the plan was saved, before the approval
    moved = runner.zones()
    if platform == "github":
        apply = ci.run_job("apply", {})
    else:
        apply = ci.run_job("apply", ci.variables("push", None))
    assert apply.rc("--plan plan.json") == 1, apply.log()
    assert runner.zones() == moved  # nothing applied


@pytest.mark.parametrize("platform", ["github", "gitlab"])
def test_rollback_job_from_saved_state_when_the_environment_file_is_broken(runner, platform):
    ci = platform_for(platform, runner)
    original = runner.zones()
    r = subprocess.run(["cutover", "prepare", "--env", "demo", "--yes"], cwd=runner.project,
                       env=runner.base_env, capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert runner.zones() != original
    # a fresh runner: the state is elsewhere (S3 in real life), the environment file is broken
    shutil.move(runner.project / ".cutover" / "demo", runner.project / "saved-state")
    (runner.project / "environments" / "demo.yaml").write_text("provider: [unclosed\n")
    if platform == "github":
        res = ci.event("workflow_dispatch", {"environment": "demo", "state": "saved-state"})
        rollback = res["rollback"]
    else:
        res, _ = ci.pipeline("web", click=("rollback",), extra={"CUTOVER_STATE": "saved-state"})
        rollback = res["rollback"]
    assert rollback.rc("cutover rollback") == 0, rollback.log()
    assert runner.zones() == original
