"""JUnit XML for CI: one testcase per (zone, RRset), failing with the servers that disagree.

CI systems (GitLab, Jenkins, GitHub test reporters) show testcases, not servers, so the
per-server findings are folded into the testcase of their RRset.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from .verify.propagation import Report

ANSWERLESS = {"TIMEOUT", "UNREACHABLE"}


def _outcome(case: ET.Element, tag: str, bad: list, summary: str) -> None:
    """A <failure> (wrong DNS) or <error> (no answer) naming the servers, one line each."""
    element = ET.SubElement(
        case,
        tag,
        type=bad[0].status,
        message=f"{summary}: " + ", ".join(f"{f.server} {f.status}" for f in bad),
    )
    element.text = "\n".join(f.line() for f in bad)


def junit_xml(report: Report) -> bytes:
    """Failures are wrong DNS; errors are servers that did not answer (CI shows them apart);
    each lint finding on what is served is its own testcase, failing when it is an error."""
    cases: dict[tuple[str, str, str], list] = {}
    for f in report.findings:
        cases.setdefault((f.zone, f.name, f.type), []).append(f)
    suite = ET.Element("testsuite", name=f"mailcutover validate {report.env} ({report.stage})")
    failures = errors = 0
    for (zone, name, rtype), fs in sorted(cases.items()):
        case = ET.SubElement(suite, "testcase", classname=zone.rstrip("."), name=f"{name} {rtype}")
        bad = [f for f in fs if f.required and not f.ok]
        silent = [f for f in bad if f.status in ANSWERLESS]
        wrong = [f for f in bad if f.status not in ANSWERLESS]
        if wrong:
            failures += 1
            _outcome(case, "failure", wrong, f"{len(wrong)} of {len(fs)} server(s) disagree")
        elif silent:
            errors += 1
            _outcome(case, "error", silent, f"{len(silent)} of {len(fs)} server(s) did not answer")
        advisory = [f for f in fs if not f.required and not f.ok]
        if advisory:
            ET.SubElement(case, "system-out").text = "\n".join(f.line() for f in advisory)
    for finding in report.policy:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"lint.{finding.domain}",
            name=f"{finding.code} {finding.record}",
        )
        if finding.severity == "error":
            failures += 1
            ET.SubElement(case, "failure", type=finding.code, message=finding.line())
        else:
            ET.SubElement(case, "system-out").text = finding.line()
    if report.probe is not None:
        failures += _probe_cases(suite, report.probe)
    suite.set("tests", str(len(suite)))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("time", f"{report.elapsed:.3f}")
    ET.indent(suite)
    return ET.tostring(suite, encoding="utf-8", xml_declaration=True)


def _probe_cases(suite: ET.Element, probe) -> int:
    """`validate --probe`: a testcase per MX host, failing with its finding; returns failures."""
    failed = 0
    for host in probe.hosts:
        case = ET.SubElement(
            suite, "testcase", classname=f"probe.{host.domain}", name=f"MX {host.host}"
        )
        if not host.ok:
            failed += 1
            ET.SubElement(case, "failure", type=host.finding, message=host.line())
    return failed


def write_junit(report: Report, path: str | Path) -> None:
    Path(path).write_bytes(junit_xml(report))
