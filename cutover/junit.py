"""JUnit XML for CI: one testcase per (zone, RRset), failing with the servers that disagree.

CI systems (GitLab, Jenkins, GitHub test reporters) show testcases, not servers, so the
per-server findings are folded into the testcase of their RRset.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from .verify.propagation import Report


def junit_xml(report: Report) -> bytes:
    cases: dict[tuple[str, str, str], list] = {}
    for f in report.findings:
        cases.setdefault((f.zone, f.name, f.type), []).append(f)
    failures = sum(1 for fs in cases.values() if any(f.required and not f.ok for f in fs))
    suite = ET.Element(
        "testsuite",
        name=f"mailcutover validate {report.env} ({report.stage})",
        tests=str(len(cases)),
        failures=str(failures),
        errors="0",
        time=f"{report.elapsed:.3f}",
    )
    for (zone, name, rtype), fs in sorted(cases.items()):
        case = ET.SubElement(suite, "testcase", classname=zone.rstrip("."), name=f"{name} {rtype}")
        bad = [f for f in fs if f.required and not f.ok]
        if bad:
            failure = ET.SubElement(
                case,
                "failure",
                type=bad[0].status,
                message=f"{len(bad)} of {len(fs)} server(s) disagree: "
                + ", ".join(f"{f.server} {f.status}" for f in bad),
            )
            failure.text = "\n".join(f.line() for f in bad)
        advisory = [f for f in fs if not f.required and not f.ok]
        if advisory:
            ET.SubElement(case, "system-out").text = "\n".join(f.line() for f in advisory)
    ET.indent(suite)
    return ET.tostring(suite, encoding="utf-8", xml_declaration=True)


def write_junit(report: Report, path: str | Path) -> None:
    Path(path).write_bytes(junit_xml(report))
