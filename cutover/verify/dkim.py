"""DKIM key records (RFC 6376 §3.6.1, RFC 8301, RFC 8463): checkdmarc has no DKIM module.

A key that does not parse, or is too short for receivers to accept, fails every signature the
new provider makes; so the key itself is decoded and measured, not only the tag syntax.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from dataclasses import dataclass

from ..records import txt_join


@dataclass(frozen=True)
class KeyProblem:
    code: str
    severity: str
    message: str
    hint: str = ""


def parse_tags(text: str) -> list[tuple[str, str]]:
    """`tag=value` pairs in order; whitespace inside values (folded keys) removed."""
    out = []
    for part in text.split(";"):
        if not part.strip():
            continue
        tag, sep, value = part.partition("=")
        out.append((tag.strip().lower() if sep else part.strip(), "".join(value.split())))
    return out


def revocation_expected(dr, name: str) -> bool:
    """An empty key at `name` is what the profiles want there: a wildcard owner
    (`*._domainkey`, which no signer uses as a selector) or a name a profile itself renders with
    an empty `p=` (the no-mail profile revokes every key of a parked domain, RFC 6376 §3.6.1).
    An empty key on a selector the target really signs with is still an error."""
    if name.startswith("*."):
        return True
    for rendered in (dr.old, dr.new):
        for rname, rtype, values in rendered.records:
            if rname == name and rtype == "TXT":
                for v in values:
                    text = txt_join(v) if v.startswith('"') else v
                    if dict(parse_tags(text)).get("p", None) == "":
                        return True
    return False


def check_key(text: str, *, signing: bool, revocation_expected: bool = False) -> list[KeyProblem]:
    """Problems of one DKIM key record. `signing`: a selector the new provider or a sender signs
    with (a revoked or missing key there breaks mail), as opposed to an old one being retired.
    `revocation_expected`: the profiles publish an empty key here on purpose (no finding)."""
    tags = parse_tags(text)
    names = [t for t, _ in tags]
    values = dict(tags)
    problems: list[KeyProblem] = []
    if "v" in values and names[0] != "v":
        problems.append(KeyProblem("DKIM_SYNTAX", "error", "v=DKIM1 must be the first tag"))
    if "v" in values and values["v"] != "DKIM1":
        problems.append(KeyProblem("DKIM_SYNTAX", "error", f"v={values['v']}, expected DKIM1"))
    if "p" not in values:
        return problems + [
            KeyProblem("DKIM_NO_KEY", "error", "no p= tag: not a DKIM key record",
                       "copy the record from the provider's console again")
        ]  # fmt: skip
    key_type = values.get("k", "rsa").lower()
    if values["p"] == "" and revocation_expected:
        return problems
    if values["p"] == "":
        sev = "error" if signing else "warning"
        return problems + [
            KeyProblem("DKIM_KEY_REVOKED", sev, "empty p=: the key is revoked",
                       "publish the provider's current key for this selector")
        ]  # fmt: skip
    try:
        raw = base64.b64decode(values["p"], validate=True)
    except (binascii.Error, ValueError):
        return problems + [
            KeyProblem("DKIM_KEY_INVALID", "error", "p= is not valid base64",
                       "copy the key again; a character was lost or added")
        ]  # fmt: skip
    if key_type == "ed25519":
        if len(raw) != 32:
            problems.append(
                KeyProblem("DKIM_KEY_INVALID", "error",
                           f"an ed25519 key is 32 bytes, p= holds {len(raw)}")
            )  # fmt: skip
    elif key_type == "rsa":
        problems += _rsa(raw)
    else:
        problems.append(
            KeyProblem("DKIM_KEY_TYPE", "error", f"k={key_type}: only rsa and ed25519 exist")
        )
    if "y" in values.get("t", "").lower().split(":"):
        problems.append(
            KeyProblem("DKIM_TESTING", "warning", "t=y: receivers treat signatures as a test",
                       "remove t=y once signing works")
        )  # fmt: skip
    hashes = values.get("h", "").lower().split(":")
    if values.get("h") and "sha256" not in hashes:
        problems.append(
            KeyProblem("DKIM_SHA1_ONLY", "warning", "h= allows only sha1 (RFC 8301: must not)")
        )
    return problems


def _rsa(raw: bytes) -> list[KeyProblem]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = None
    try:
        key = serialization.load_der_public_key(raw)
    except ValueError:
        pem = b"-----BEGIN RSA PUBLIC KEY-----\n" + base64.encodebytes(raw)
        # PKCS#1 RSAPublicKey, which some signers publish instead of SubjectPublicKeyInfo
        with contextlib.suppress(ValueError):
            key = serialization.load_pem_public_key(pem + b"-----END RSA PUBLIC KEY-----\n")
    if not isinstance(key, rsa.RSAPublicKey):
        return [
            KeyProblem("DKIM_KEY_INVALID", "error", "p= does not decode to an RSA public key",
                       "copy the key again from the provider's console")
        ]  # fmt: skip
    bits = key.key_size
    if bits < 1024:
        return [
            KeyProblem("DKIM_KEY_TOO_SHORT", "error",
                       f"RSA key of {bits} bits: receivers must reject keys under 1024 (RFC 8301)",
                       "generate a 2048-bit key at the provider")
        ]  # fmt: skip
    if bits < 2048:
        return [
            KeyProblem("DKIM_KEY_WEAK", "warning", f"RSA key of {bits} bits; 2048 is recommended",
                       "rotate to a 2048-bit key")
        ]  # fmt: skip
    return []
