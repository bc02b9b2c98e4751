"""The `mta_sts` section of the environment file: which domains' policies the stages manage,
where they are published and how the served one is fetched."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..addresses import parse_address
from ..records import fqdn

if TYPE_CHECKING:
    from ..config import _Checker

MTA_STS_KEYS = {"domains", "publish", "fetch"}
MTA_STS_S3_KEYS = {"bucket", "key_prefix", "region", "endpoint_url"}
MTA_STS_FETCH_KEYS = {"connect", "ca_file", "timeout", "wait"}


@dataclass
class MtaSts:
    """`mta_sts`: the domains whose policy file the stages manage, where it is published
    (`publish`: "directory" or "s3", with its options), and how the served one is fetched."""

    domains: list[str]
    publish: str
    publish_options: dict[str, Any]
    connect: str | None = None
    ca_file: str | None = None
    timeout: int = 10
    #: seconds a stage waits for the web server to serve a newly published policy before the
    #: zone write changes the `_mta-sts` id (0: trust the publish target's read-back alone)
    wait: int = 60

    def manages(self, domain: str) -> bool:
        return domain.rstrip(".").lower() in self.domains


def parse_mta_sts(c: _Checker, data: dict, known: list[str] | None) -> MtaSts | None:
    """The `mta_sts` section (None without one). `known`: the file's domains, which
    `mta_sts.domains` must name (None when a rollback reads only the write settings)."""
    if data.get("mta_sts") is None:
        return None
    sts = c.mapping(data["mta_sts"], "mta_sts", MTA_STS_KEYS)
    if "domains" in sts:
        domains = [
            fqdn(d).rstrip(".").lower() for d in c.strings(sts["domains"], "mta_sts.domains")
        ]
    else:
        domains = list(known or [])
    for i, d in enumerate(domains):
        if known is not None and d not in known:
            raise c.fail(f"mta_sts.domains[{i}]", f"{d} is not a domain of this file")
    pub = c.mapping(sts.get("publish"), "mta_sts.publish", {"directory", "s3"})
    if len(pub) != 1:
        raise c.fail("mta_sts.publish", "needs exactly one of directory: PATH or s3: {bucket: ...}")
    kind = next(iter(pub))
    if kind == "directory":
        if not isinstance(pub["directory"], str) or not pub["directory"]:
            raise c.fail("mta_sts.publish.directory", f"must be a path, got {pub['directory']!r}")
        options: dict[str, Any] = {"directory": pub["directory"]}
    else:
        options = dict(c.mapping(pub["s3"], "mta_sts.publish.s3", MTA_STS_S3_KEYS))
        for key, value in options.items():
            if not isinstance(value, str):
                raise c.fail(f"mta_sts.publish.s3.{key}", f"must be a string, got {value!r}")
        if not options.get("bucket"):
            raise c.fail("mta_sts.publish.s3.bucket", "is required")
    fetch = c.mapping(sts.get("fetch"), "mta_sts.fetch", MTA_STS_FETCH_KEYS)
    connect = fetch.get("connect")
    if connect is not None:
        try:
            parse_address(str(connect), 443)
        except ValueError as exc:
            raise c.fail("mta_sts.fetch.connect", str(exc)) from exc
    ca_file = fetch.get("ca_file")
    if ca_file is not None and not isinstance(ca_file, str):
        raise c.fail("mta_sts.fetch.ca_file", f"must be a path, got {ca_file!r}")
    return MtaSts(
        domains=domains,
        publish=kind,
        publish_options=options,
        connect=connect,
        ca_file=ca_file,
        timeout=c.integer(fetch.get("timeout", 10), "mta_sts.fetch.timeout", 1, 300),
        wait=c.integer(fetch.get("wait", 60), "mta_sts.fetch.wait", 0, 3600),
    )
