"""An octoDNS provider that plans a change of its own, as octoDNS's `_extra_changes` hook lets
any provider do (real ones use it for zone-level records): here an edit of `www A`, a record
the tool does not own. Used by the tests to show the bridge refuses any write it did not ask
for; everything else is the real `octodns_powerdns.PowerDnsProvider`."""

from __future__ import annotations

from octodns.record import Update
from octodns_powerdns import PowerDnsProvider


class ExtraChangePowerDns(PowerDnsProvider):
    def _extra_changes(self, existing, desired, changes):
        www = next((r for r in existing.records if r.name == "www" and r._type == "A"), None)
        if www is None:
            return []
        new = www.copy()
        new.ttl = www.ttl + 1
        return [Update(www, new)]


class CaaUnseenPowerDns(PowerDnsProvider):
    """A provider that does not model CAA at all: `populate` never reports it (as octoDNS
    providers skip types they do not know)."""

    SUPPORTS = PowerDnsProvider.SUPPORTS - {"CAA"}


class CaaReadOnlyPowerDns(PowerDnsProvider):
    """A provider that reads CAA but cannot write it (its `supports()` says no)."""

    def supports(self, record):
        return record._type != "CAA" and super().supports(record)
