"""The lint finding: one code, one severity, one record, one line, one fix.

The codes are a public contract (CI greps them, `lint --json` consumers switch on them): they are
listed with their meaning in CODES and documented in docs/lint.md; never rename one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str  # "error" blocks apply; "warning" does not unless --strict
    domain: str
    record: str  # "name TYPE" the finding is about
    message: str
    hint: str = ""

    def line(self) -> str:
        tail = f"; {self.hint}" if self.hint else ""
        return f"{self.severity} {self.code} {self.domain} {self.record}: {self.message}{tail}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


CODES: dict[str, str] = {
    "SPF_MISSING": "no v=spf1 value at the apex",
    "SPF_MULTIPLE": "more than one v=spf1 value at one name (permerror)",
    "SPF_TOO_MANY_LOOKUPS": "more than 10 DNS-querying terms, counted through includes (permerror)",
    "SPF_TOO_MANY_VOID_LOOKUPS": "more than 2 lookups that return nothing (permerror)",
    "SPF_INCLUDE_NOT_FOUND": "an include/redirect target has no SPF record (permerror)",
    "SPF_SYNTAX": "the record does not parse",
    "SPF_LOOP": "an include or redirect loop",
    "SPF_ERROR": "another SPF error: more than 10 MX behind `mx`, or a lookup failed (temperror)",
    "SPF_PASS_ALL": "+all authorises the whole internet",
    "SPF_NEUTRAL_ALL": "?all gives no protection",
    "SPF_ALL_NOT_LAST": "terms after `all` are ignored",
    "SPF_PTR": "the ptr mechanism should not be used",
    "SPF_STRING_TOO_LONG": "a TXT string over 255 bytes",
    "SPF_TOO_LONG": "the record may not fit one UDP answer",
    "SPF_UNION_INCOMPLETE": "a mechanism the stage must keep (old, new, sender, keep_spf) is missing",
    "SPF_WARNING": "a checkdmarc SPF warning (no longer emitted: the project's evaluator decides)",
    "SPF_MACRO_UNCOUNTED": "an include/redirect target needs a sender macro: its lookups cannot be counted",
    "DMARC_MISSING": "no DMARC record at _dmarc",
    "DMARC_MULTIPLE": "more than one v=DMARC1 record",
    "DMARC_INVALID_TAG_VALUE": "a tag has a value outside its allowed set (p=rejected)",
    "DMARC_INVALID_TAG": "an unknown or misplaced tag",
    "DMARC_SYNTAX": "the record does not parse",
    "DMARC_REPORT_NOT_AUTHORIZED": "a rua/ruf domain has not authorised reports for this domain",
    "DMARC_WARNING": "a checkdmarc DMARC warning",
    "DKIM_TARGET_MISSING": "a DKIM selector (or its CNAME target) has no TXT key",
    "DKIM_NOT_FOUND": "a DKIM selector the provider signs with does not resolve",
    "DKIM_SYNTAX": "v=DKIM1 not first, or another tag error",
    "DKIM_NO_KEY": "no p= tag",
    "DKIM_KEY_REVOKED": "empty p=: revoked key",
    "DKIM_KEY_INVALID": "p= is not valid base64 or not a key",
    "DKIM_KEY_TYPE": "k= other than rsa or ed25519",
    "DKIM_KEY_TOO_SHORT": "RSA key under 1024 bits",
    "DKIM_KEY_WEAK": "RSA key under 2048 bits",
    "DKIM_TESTING": "t=y testing flag",
    "DKIM_SHA1_ONLY": "h= allows only sha1",
    "MX_IP_TARGET": "an MX points at an IP address, not a host name",
    "MX_CNAME_TARGET": "an MX target is a CNAME (RFC 2181 §10.3)",
    "MX_UNRESOLVABLE": "an MX target has no A or AAAA record",
    "MX_NULL_MIXED": "a null MX (0 .) beside other MX records",
    "MX_NOT_PROFILE": "the MX set is not the target profile's at or after cutover",
    "MTA_STS_PRESENT": "MTA-STS is published: the policy file must list the new MX hosts first",
    "MTA_STS_ID_DRIFT": "validate: the `_mta-sts` id served is not the id of the policy file published (mta_sts section)",
    "TLSRPT_SYNTAX": "the TLS-RPT record does not parse",
    "WILDCARD_SHADOWED": "a new name makes an empty non-terminal where a wildcard answers today",
    "TTL_CUTOVER_ABOVE_LIVE": "ttl.cutover is above a live TTL, which is kept (never raised)",
}
