"""On a terminal, applying tasks show the plan and ask; only a yes applies."""

from tests.lifecycle_helpers import zone_state
from tests.terminal import run_on_terminal


def test_terminal_shows_plan_and_no_applies_nothing(project):
    before = zone_state(project, "example.com")
    code, out = run_on_terminal(project, "prepare", "--env", "demo", answer="n")
    assert "+ selector1._domainkey CNAME" in out and "Apply prepare to 2 zone(s)?" in out
    assert code == 2 and "not confirmed" in out
    assert zone_state(project, "example.com") == before


def test_terminal_yes_applies(project):
    code, out = run_on_terminal(project, "prepare", "--env", "demo")
    assert code == 0, out
    assert zone_state(project, "example.com")[("example.com.", "MX")][0] == 5
