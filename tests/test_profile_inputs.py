"""Declared profile inputs: a missing, malformed or unknown input is one line naming the domain,
the profile and the input, exit 2, before anything is rendered or changed; and `invoke profiles`
lists every profile with its inputs."""

from __future__ import annotations

import json

import pytest
import yaml

from cutover.errors import TemplateError
from tests.golden_cases import KEY, environment, profile_inputs
from tests.test_bad_input import _assert_refused, _edit_env

M365_TO = {
    "dkim_selector1_target": "selector1-my-company-com._domainkey.contoso.onmicrosoft.com",
    "dkim_selector2_target": "selector2-my-company-com._domainkey.contoso.onmicrosoft.com",
}


def _add_domain(name: str, to: dict, senders: dict | None = None):
    def edit(d):
        d["domains"][name] = {"to": to, **({"senders": senders} if senders else {})}

    return edit


def test_m365_mx_is_never_derived_for_a_hyphenated_domain(project, cli):
    _edit_env(project, _add_domain("my-company.com", dict(M365_TO)))
    _assert_refused(project, cli, "my-company.com", "microsoft365", "mx_host", "missing input")


def test_m365_mx_is_never_derived_for_an_idn_domain(project, cli):
    to = {
        "dkim_selector1_target": "selector1-xn--bcher-kva-example._domainkey.contoso.onmicrosoft.com",
        "dkim_selector2_target": "selector2-xn--bcher-kva-example._domainkey.contoso.onmicrosoft.com",
    }
    _edit_env(project, _add_domain("bücher.example", to))
    _assert_refused(project, cli, "xn--bcher-kva.example", "microsoft365", "mx_host")


def test_m365_mx_that_is_not_microsofts_is_refused(project, cli):
    _edit_env(project, lambda d: d["domains"]["example.org"]["to"].update(mx_host="mx.example.org"))
    _assert_refused(project, cli, "example.org", "microsoft365", "mx_host", "does not match")


def test_misspelt_input_is_refused_not_ignored(project, cli):
    """`mx_hots` silently ignored would render the derived MX instead of the given one."""

    def edit(d):
        to = d["domains"]["example.org"]["to"]
        to["mx_hots"] = to.pop("mx_host")

    _edit_env(project, edit)
    _assert_refused(project, cli, "example.org", "microsoft365", "unknown input 'mx_hots'")


def test_sender_missing_input_names_the_sender(project, cli):
    _edit_env(
        project,
        lambda d: d["domains"]["example.com"].update(senders={"sendgrid": {"em_label": "em1234"}}),
    )
    _assert_refused(project, cli, "example.com", "sender sendgrid", "user_host", "senders.sendgrid")


def test_list_input_with_the_wrong_count_is_refused(project, cli):
    ses = {"region": "eu-west-1", "dkim_tokens": ["a" * 32, "b" * 32], "mail_from": "bounce"}
    _edit_env(project, lambda d: d["domains"]["example.com"].update(senders={"amazon-ses": ses}))
    _assert_refused(project, cli, "example.com", "amazon-ses", "dkim_tokens", "3 items")


def test_render_reports_the_same_line_with_exit_2(project, cli):
    _edit_env(project, lambda d: d["domains"]["example.org"]["to"].pop("dkim_selector2_target"))
    r = cli("render", "--env", "demo")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1
    assert "example.org: profile microsoft365 (to): missing input dkim_selector2_target" in r.stderr


def test_host_inputs_are_normalised_and_new_mx_form_accepted():
    inputs = {**M365_TO, "mx_host": "MyCompany-com.J-V1.MX.Microsoft."}
    env = environment("my-company.com", "no-mail", {}, "microsoft365", inputs)
    from cutover.render import render_domain

    dr = render_domain(env, env.domains[0])
    assert dr.new.mx == ["0 mycompany-com.j-v1.mx.microsoft."]


def test_derived_mx_only_as_fallback():
    from cutover.render import render_domain

    inputs = profile_inputs("microsoft365", "example.com")
    assert "mx_host" not in inputs
    env = environment("example.com", "no-mail", {}, "microsoft365", inputs)
    assert render_domain(env, env.domains[0]).new.mx == [
        "0 example-com.mail.protection.outlook.com."
    ]
    given = {**inputs, "mx_host": "example-com01b.mail.protection.outlook.com"}
    env = environment("example.com", "no-mail", {}, "microsoft365", given)
    assert render_domain(env, env.domains[0]).new.mx == [
        "0 example-com01b.mail.protection.outlook.com."
    ]


def test_as_old_provider_only_names_are_needed():
    """Moving away from Microsoft 365 needs no DKIM targets: finalize only deletes those names."""
    from cutover.render import render_domain

    env = environment("my-company.com", "microsoft365", {}, "fastmail", {})
    dr = render_domain(env, env.domains[0])
    assert [r[0] for r in dr.old.records] == [
        "selector1._domainkey.my-company.com.",
        "selector2._domainkey.my-company.com.",
    ]


def test_fastmail_dkim_targets_keep_the_dots():
    from cutover.render import render_domain

    env = environment("my-company.co.uk", "no-mail", {}, "fastmail", {})
    records = dict((n, v) for n, _t, v in render_domain(env, env.domains[0]).new.records)
    assert records["fm1._domainkey.my-company.co.uk."] == [
        "fm1.my-company.co.uk.dkim.fmhosted.com."
    ]


@pytest.mark.parametrize(
    ("profile", "inputs", "expect"),
    [
        (
            "zoho",
            {"spf_include": "zohomail.com", "dkim_selector": "zmail", "dkim_public_key": KEY},
            "region",
        ),
        (
            "zoho",
            {"region": "de", "spf_include": "zohomail.com", "dkim_selector": "z"},
            "region 'de'",
        ),
        ("google-workspace", {"mx_style": "aspmx", "dkim_public_key": KEY}, "mx_style"),
        ("google-workspace", {"dkim_public_key": "not base64!"}, "dkim_public_key"),
        ("proton", {"verification": "x"}, "dkim1_target"),
        ("custom", {"mx": ["mail.example.net"]}, "mx[0]"),
        ("custom", {"mx": ["10 mx.example.net"], "spf": ["+all"]}, "spf[0]"),
        (
            "custom",
            {"mx": ["10 mx.example.net"], "dkim": [{"selector": "s1", "type": "A", "value": "x"}]},
            "dkim[0].type",
        ),
        ("microsoft365", {**M365_TO, "mdm": "yes"}, "true or false"),
    ],
)
def test_bad_inputs_per_profile(profile, inputs, expect):
    from cutover.render import render_domain

    env = environment("my-company.com", "no-mail", {}, profile, inputs)
    with pytest.raises(TemplateError) as err:
        render_domain(env, env.domains[0])
    line = err.value.line()
    assert "\n" not in line and expect in line
    assert f"my-company.com: profile {profile} (to)" in line and err.value.exit_code == 2


def test_user_template_without_front_matter_accepts_any_input(project, cli):
    (project / "templates").mkdir()
    (project / "templates" / "inhouse.yaml.j2").write_text(
        'mx: ["10 {{ host }}."]\nspf: ["ip4:192.0.2.1"]\n'
    )

    def edit(d):
        d["migration"]["to"] = "inhouse"
        for dom in d["domains"].values():
            dom["to"] = {"host": "mail.example.net", "anything": 1}

    _edit_env(project, edit)
    r = cli("render", "--env", "demo", "--stage", "cutover", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    mx = [w for w in doc["stages"]["cutover"]["example.com"] if w["type"] == "MX"]
    assert mx[0]["values"] == ["10 mail.example.net."]


def test_broken_front_matter_is_a_usage_error(project, cli):
    (project / "templates").mkdir()
    (project / "templates" / "microsoft365.yaml.j2").write_text(
        "{#- ---\ninputs:\n  mx_host: {type: hostname}\n--- -#}\nmx: []\n"
    )
    _assert_refused(project, cli, "microsoft365.yaml.j2", "type 'hostname'")


def test_profiles_lists_every_profile_and_input(project, cli):
    r = cli("profiles")
    assert r.returncode == 0, r.stderr
    for name in (
        "microsoft365", "google-workspace", "zoho", "fastmail", "proton", "amazon-workmail",
        "custom", "no-mail", "sendgrid", "mailgun", "amazon-ses",
    ):  # fmt: skip
        assert f"  {name}: " in r.stdout
    for line in (
        "- mx_host (host, required when role == 'to' and '-' in domain)",
        "- dkim_selector1_target (host, required as target)",
        '- mx_style (string, optional, default "smtp")',
        "- region (string, required as target)",
        "- dkim_tokens (list, required, 3 items)",
        "- em_label (string, required)",
    ):
        assert line in r.stdout, line


def test_profiles_json_and_a_user_profile(project, cli):
    (project / "templates" / "senders").mkdir(parents=True)
    (project / "templates" / "senders" / "postmark.yaml.j2").write_text(
        "{#- ---\ntitle: Postmark\ninputs:\n  selector: {required: true, description: DKIM selector}\n--- -#}\n"
        "records: [{name: '{{ selector }}._domainkey', type: TXT, values: ['k=rsa; p=x']}]\n"
    )
    r = cli("profiles", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    names = {p["name"]: p for p in doc["profiles"]}
    assert set(names) >= {"microsoft365", "google-workspace", "zoho", "fastmail", "proton"}
    m365 = {i["name"]: i for i in names["microsoft365"]["inputs"]}
    assert m365["mx_host"]["pattern"].endswith(r"-v1\.mx\.microsoft")
    assert m365["dkim_selector1_target"]["required"] == "role == 'to'"
    senders = {s["name"]: s for s in doc["senders"]}
    assert senders["postmark"]["origin"] == "user"
    assert senders["sendgrid"]["origin"] == "built-in"
    assert senders["postmark"]["inputs"][0] == {
        "name": "selector",
        "type": "string",
        "required": True,
        "description": "DKIM selector",
    }
    assert yaml.safe_dump(doc)  # plain data all the way down


def test_profiles_for_one_environment(project, cli):
    r = cli("profiles", "--env", "demo-m365-to-google", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [p["name"] for p in doc["profiles"]] == ["google-workspace", "microsoft365"]
    assert [s["name"] for s in doc["senders"]] == ["sendgrid"]


def test_coexistence_spf_is_never_stricter_than_the_old_record():
    """Parking a domain (no-mail, -all) keeps the old ~all until finalize."""
    from cutover.render import STAGES, render_domain, wants
    from tests.golden_cases import BASE_OLD

    env = environment("example.com", "custom", BASE_OLD, "no-mail", {})
    dr = render_domain(env, env.domains[0])
    spf = {}
    for stage in STAGES:
        apex = [w for w in wants(env, dr, stage) if w.type == "TXT" and w.name == "example.com."]
        spf[stage] = [v for v in apex[0].values if v.startswith("v=spf1")][0]
    assert spf["prepare"].endswith(" ~all") and spf["cutover"].endswith(" ~all")
    assert spf["finalize"] == "v=spf1 ip4:198.51.100.25 -all"
