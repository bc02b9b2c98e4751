"""DNS providers: one class per DNS host, all behind the interface in base.py.

Imported lazily by type name so that `invoke --list` never pays for boto3 or the Cloudflare SDK.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Environment
    from .base import Provider

MODULES = {
    "zonefile": ("cutover.providers.zonefile", "ZoneFileProvider"),
    "route53": ("cutover.providers.route53", "Route53Provider"),
    "cloudflare": ("cutover.providers.cloudflare", "CloudflareProvider"),
    "rfc2136": ("cutover.providers.rfc2136", "RFC2136Provider"),
    "octodns": ("cutover.providers.octodns_bridge", "OctoDNSProvider"),
}


def get_provider(env: Environment) -> Provider:
    module_name, class_name = MODULES[env.provider.type]
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(env)
