"""The provider contract: every built-in provider's options are checked when the environment is
loaded (one line naming `provider.<key>`, exit 2), `provider.type` is looked up through the
entry point group with the built-ins as a table no installed package can take over, each class
declares its capabilities, and loading an environment imports no SDK."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from cutover.config import load_environment
from cutover.errors import ConfigError
from cutover.providers import MODULES, get_provider, provider_class, registry
from cutover.providers.contract import Capabilities
from cutover.verify.lookup import lint_addresses
from tests.conftest import REPO, run_cli

ENV = "contract"
BASE = {
    "zonefile": {"directory": "demo/zones"},
    "route53": {},
    "cloudflare": {},
    "rfc2136": {"server": "127.0.0.1:53"},
    "octodns": {"class": "octodns_powerdns.PowerDnsProvider"},
}


def write_env(project: Path, provider: Any, **extra: Any) -> Path:
    data = {
        "provider": provider,
        "migration": {"from": "google-workspace", "to": "microsoft365"},
        "domains": {"example.com": {}},
        **extra,
    }
    path = project / "environments" / f"{ENV}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def refused(project: Path, provider: Any) -> tuple[Path, str]:
    path = write_env(project, provider)
    with pytest.raises(ConfigError) as err:
        load_environment(ENV, project)
    assert err.value.exit_code == 2
    line = err.value.line()
    assert len(line.splitlines()) == 1, line
    return path, line


BAD_OPTIONS = [
    # (type, options, key named, words in the message)
    ("octodns", {"mx_update": "x"}, "mx_update", "not allowed"),
    ("octodns", {"class": 5}, "class", "must be a non-empty string"),
    ("zonefile", {"directory": None}, "directory", "is required for the zonefile provider"),
    ("zonefile", {"directory": 5}, "directory", "must be a path"),
    ("zonefile", {"standins": ["demo"]}, "standins", "must be a path"),
    ("zonefile", {"dir": "demo/zones"}, "dir", "unknown key (allowed: directory, standins)"),
    ("route53", {"private": "false"}, "private", "must be true or false"),
    ("route53", {"private": 0}, "private", "must be true or false"),
    ("route53", {"max_concurrency": "lots"}, "max_concurrency", "integer from 1 to 64"),
    ("route53", {"max_concurrency": 0}, "max_concurrency", "integer from 1 to 64"),
    ("route53", {"max_concurrency": True}, "max_concurrency", "integer"),
    ("route53", {"region": 5}, "region", "non-empty string"),
    ("route53", {"zone": "x"}, "zone", "unknown key (allowed: max_concurrency, private, region)"),
    ("cloudflare", {"max_concurrency": 65}, "max_concurrency", "integer from 1 to 64"),
    ("cloudflare", {"timeout": "30"}, "timeout", "number of seconds"),
    ("cloudflare", {"timeout": 0}, "timeout", "number of seconds above 0"),
    ("cloudflare", {"api_token": "x"}, "api_token", "unknown key"),
    ("rfc2136", {"server": None}, "server", 'is required for the rfc2136 provider (e.g. "'),
    ("rfc2136", {"server": "127.0.0.1:99999"}, "server", "port must be 1..65535"),
    ("rfc2136", {"server": ["127.0.0.1"]}, "server", "must be an address"),
    ("rfc2136", {"tsig": "my-key"}, "tsig", "must be a mapping"),
    ("rfc2136", {"tsig": {"name": "k", "secret_env": "S", "secret": "x"}}, "tsig.secret", "unknown key"),
    ("rfc2136", {"tsig": {"name": "k", "algorithm": "hmac-foo", "secret_env": "S"}}, "tsig.algorithm", "not allowed"),
    ("rfc2136", {"tsig": {"name": "k"}}, "tsig.secret_env", "is required"),
    ("rfc2136", {"tsig": {"secret_env": "S"}}, "tsig.name", "is required"),
    ("rfc2136", {"snapshot": "everything"}, "snapshot", "not allowed (allowed: names, zone)"),
    ("rfc2136", {"timeout": 601}, "timeout", "number of seconds from 0 to 600"),
    ("rfc2136", {"nameservers": "127.0.0.1:53"}, "nameservers", "list of"),
    ("rfc2136", {"nameservers": ["127.0.0.1:53", "127.0.0.1:0"]}, "nameservers[1]", "port must be"),
]  # fmt: skip


@pytest.mark.parametrize(("ptype", "options", "key", "words"), BAD_OPTIONS)
def test_bad_option_is_one_line_naming_the_key(project, ptype, options, key, words):
    path, line = refused(project, {"type": ptype, **BASE[ptype], **options})
    assert line.startswith(f"{path}: provider.{key}: "), line
    assert words in line, line


def test_every_builtin_provider_has_bad_option_cases():
    assert {case[0] for case in BAD_OPTIONS} == set(MODULES)


@pytest.mark.parametrize(
    ("ptype", "options"),
    [
        ("zonefile", {"directory": "demo/zones", "standins": "demo/standins"}),
        ("route53", {"region": "eu-west-1", "private": False, "max_concurrency": 4}),
        ("cloudflare", {"max_concurrency": 2, "timeout": 2.5}),
        ("rfc2136", {"server": "[::1]:5300", "snapshot": "zone", "timeout": 10,
                     "tsig": {"name": "k", "algorithm": "HMAC-SHA512", "secret_env": "S"},
                     "nameservers": ["127.0.0.1:53", "[::1]:53"]}),
    ],
)  # fmt: skip
def test_good_options_load_unchanged(project, ptype, options):
    write_env(project, {"type": ptype, **options})
    env = load_environment(ENV, project)
    assert env.provider.type == ptype and env.provider.options == options


def test_route53_private_false_as_a_string_fails_through_the_cli(project):
    path = write_env(project, {"type": "route53", "private": "false"})
    r = run_cli(project, "plan", "--env", ENV)
    assert r.returncode == 2, r.stderr
    line = r.stderr.strip()
    assert len(line.splitlines()) == 1 and line.startswith(f"error: {path}: provider.private: ")


@pytest.mark.parametrize(
    ("provider", "key", "words"),
    [
        ({"type": "godaddy"}, "provider.type", "'godaddy' is not a known provider type"),
        ({"directory": "demo/zones"}, "provider.type", "None is not a known provider type"),
        ({"type": ["zonefile"]}, "provider.type", "is not a known provider type"),
        ("zonefile", "provider", "must be a mapping"),
    ],
)
def test_unknown_or_missing_type_lists_the_known_ones(project, provider, key, words):
    path, line = refused(project, provider)
    assert line.startswith(f"{path}: {key}: ") and words in line, line
    if key == "provider.type":
        assert f"known: {', '.join(sorted(registry.known()))})" in line
        assert all(name in line for name in MODULES)
        assert "mailcutover.providers entry point group" in line


def test_builtins_are_registered_as_entry_points_in_pyproject():
    """The fallback table and the packaging metadata name the same classes, and each loads."""
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    eps = meta["project"]["entry-points"]["mailcutover.providers"]
    assert eps == registry.BUILTIN
    for name, spec in eps.items():
        module, cls = spec.split(":")
        loaded = provider_class(name)
        assert (loaded.__module__, loaded.__name__) == (module, cls)


def _fake_dist(site: Path, name: str, entry_points: dict[str, str]) -> None:
    """An installed distribution's metadata, as pip leaves it in site-packages."""
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines = [f"{k} = {v}" for k, v in entry_points.items()]
    (info / "entry_points.txt").write_text("[mailcutover.providers]\n" + "\n".join(lines) + "\n")


def test_an_installed_package_cannot_take_over_a_builtin_name(project, tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "hijack").mkdir(parents=True)
    (site / "hijack" / "__init__.py").write_text("raise RuntimeError('hijacked')\n")
    _fake_dist(site, "hijack", {"zonefile": "hijack:Evil", "broken": "hijack:Evil"})
    monkeypatch.syspath_prepend(str(site))
    assert registry.installed()["zonefile"] == "hijack:Evil"  # it is installed...
    assert provider_class("zonefile").__name__ == "ZoneFileProvider"  # ...and never used
    assert "broken" in registry.known()
    path = write_env(project, {"type": "broken"})
    with pytest.raises(ConfigError) as err:
        load_environment(ENV, project)
    line = err.value.line()
    assert line.startswith(f"{path}: provider.type: provider 'broken' (hijack:Evil) cannot be")
    assert "RuntimeError: hijacked" in line and len(line.splitlines()) == 1


def test_an_entry_point_that_is_not_a_provider_is_refused(project, tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "notaprovider").mkdir(parents=True)
    (site / "notaprovider" / "__init__.py").write_text("class Thing:\n    pass\n")
    _fake_dist(site, "notaprovider", {"thing": "notaprovider:Thing"})
    monkeypatch.syspath_prepend(str(site))
    _, line = refused(project, {"type": "thing"})
    assert "provider.type: provider 'thing' (notaprovider:Thing) is not a subclass" in line


def test_capabilities_are_declared_by_every_builtin():
    caps = {name: provider_class(name).capabilities for name in MODULES}
    assert all(isinstance(c, Capabilities) for c in caps.values())
    assert caps["route53"] == Capabilities(True, "precondition", reports_sync=True)
    assert caps["rfc2136"].drift_check == "precondition"
    assert caps["zonefile"].drift_check == caps["cloudflare"].drift_check == "reread"
    assert (caps["cloudflare"].ttl_floor, caps["cloudflare"].auto_ttl) == (60, 1)
    with pytest.raises(AttributeError):
        caps["route53"].reports_sync = False  # type: ignore[misc]


def test_served_ttl_and_reports_sync_come_from_capabilities(project, monkeypatch):
    write_env(project, {"type": "zonefile", "directory": "demo/zones"})
    provider = get_provider(load_environment(ENV, project))
    assert provider.served_ttl(1) == 1 and provider.reports_sync is False
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "contract-test-token")  # built, never used
    write_env(project, {"type": "cloudflare"}, ttl={"cutover": 60, "final": 3600})
    provider = get_provider(load_environment(ENV, project))
    try:
        assert provider.served_ttl(1) == 300  # automatic TTL, as Cloudflare serves it
        assert provider.served_ttl(60) == 60 and provider.reports_sync is False
    finally:
        provider.close()


def test_embedded_resolver_is_asked_of_the_provider(project):
    """`embedded` means the provider's own local resolver; a provider without one says so."""
    write_env(project, BASE["zonefile"] | {"type": "zonefile", "standins": "demo/standins"},
              lint={"resolvers": ["embedded"]})  # fmt: skip
    provider = get_provider(load_environment(ENV, project))
    try:
        (address,) = lint_addresses(load_environment(ENV, project), provider)
        assert address == provider.local_resolver() and address.startswith("127.0.0.1:")
    finally:
        provider.close()
    write_env(project, {"type": "rfc2136", "server": "127.0.0.1:53"},
              lint={"resolvers": ["embedded"]})  # fmt: skip
    env = load_environment(ENV, project)
    with pytest.raises(ConfigError, match="lint.resolvers: `embedded` needs the zonefile"):
        lint_addresses(env, get_provider(env))


@pytest.mark.parametrize(
    ("ptype", "options"), [("route53", {"private": True}), ("cloudflare", {"timeout": 5})]
)
def test_loading_an_environment_imports_no_sdk(project, ptype, options):
    """The schema lives on the class; the SDK is imported only when the provider talks."""
    write_env(project, {"type": ptype, **options})
    code = (
        "import sys; from cutover.config import load_environment; "
        f"env = load_environment({ENV!r}, {str(project)!r}); "
        "print(env.provider.type, sorted(m for m in ('boto3', 'botocore', 'cloudflare', 'httpx')"
        " if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == f"{ptype} []"
