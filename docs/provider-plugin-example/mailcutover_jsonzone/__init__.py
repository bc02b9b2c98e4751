"""An example mailcutover provider: each zone is `<directory>/<zone>.json`, a list of RRsets."""

from __future__ import annotations

import json
import os
import tempfile

from cutover.errors import ConfigError
from cutover.providers.base import ChangeRef, Provider, check_drift
from cutover.providers.contract import Addresses, Capabilities, FilePath
from cutover.records import RRset, fqdn, index


class JsonZoneProvider(Provider):
    options_schema = {
        "directory": FilePath(required=True, doc="folder of <zone>.json files"),
        "nameservers": Addresses(doc="servers publishing the zones, for `validate`"),
    }
    # one file replaced by rename; no server-side condition, so re-read right before writing
    capabilities = Capabilities(atomic_per_zone=True, drift_check="reread")

    def _path(self, zone: str):
        return self.env.root / self.options["directory"] / f"{fqdn(zone).rstrip('.')}.json"

    def _load(self, zone: str) -> list[RRset]:
        path = self._path(zone)
        if not path.is_file():
            raise ConfigError(f"zone {fqdn(zone)}: no file {path}", "create it")
        return [RRset.from_dict(r) for r in json.loads(path.read_text())["rrsets"]]

    def read(self, zone, names):
        wanted = {fqdn(n) for n in names}
        return [r for r in self._load(zone) if r.name in wanted]

    def apply(self, zone, plan):
        live = index(self._load(zone))  # a real plugin holds a lock from here to the rename
        check_drift(zone, plan, live.values())
        for change in plan.changes:
            live.pop(change.key, None)
            if change.after is not None:
                live[change.key] = change.after
        doc = {"rrsets": [live[k].to_dict() for k in sorted(live)]}
        path = self._path(zone)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh, indent=1)
        os.replace(tmp, path)  # readers see the old file or the new one, never half
        return ChangeRef(zone=fqdn(zone))

    def nameservers(self, zone):
        return list(self.options.get("nameservers") or [])
