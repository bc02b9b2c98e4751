"""DNS providers: one class per DNS host, all behind the interface in base.py.

Found by `provider.type` through the `mailcutover.providers` entry point group (registry.py), so
a separate package can add a host; imported lazily so that `invoke --list` never pays for boto3
or the Cloudflare SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Environment
    from .base import Provider

#: The built-in providers: the fallback for the entry points of the same names in
#: pyproject.toml, used when package metadata is missing (tests keep the two equal).
MODULES = {
    "zonefile": ("cutover.providers.zonefile", "ZoneFileProvider"),
    "route53": ("cutover.providers.route53", "Route53Provider"),
    "cloudflare": ("cutover.providers.cloudflare", "CloudflareProvider"),
    "rfc2136": ("cutover.providers.rfc2136", "RFC2136Provider"),
    "octodns": ("cutover.providers.octodns_bridge", "OctoDNSProvider"),
}


def provider_class(ptype: str, where: str = "provider.type") -> type[Provider]:
    """The class registered for `ptype`; unknown or broken: one-line ConfigError (exit 2)."""
    from .registry import load_class

    return load_class(ptype, where)


def get_provider(env: Environment) -> Provider:
    cls = provider_class(env.provider.type, f"{env.path}: provider.type")
    return cls(env)
