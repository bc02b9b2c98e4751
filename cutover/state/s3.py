"""State in an S3 bucket, for teams that cut over from CI: `s3://<bucket>/<prefix>/<env>/`.

The Terraform S3-backend pattern, with S3's own conditional writes instead of a DynamoDB table:

- `lock`: created with `IfNoneMatch='*'`, so of two pipelines only one can create it (S3 answers
  the other 412); it names owner, host, pid and start time. It is released with `IfMatch` on
  the ETag we created, so a run never deletes a lock someone else took after `unlock`.
- `journal.jsonl`: one object; an append reads it with its ETag and writes it back with
  `IfMatch` (or `IfNoneMatch='*'` when it does not exist yet). A concurrent writer makes S3
  answer 412 and we re-read and retry, so neither loses the other's entry.
- `snapshots/<id>.json`: written once with `IfNoneMatch='*'`, never overwritten, sealed with
  the same sha256 as local snapshots.

Credentials come from the AWS chain only; nothing here writes them anywhere.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

from ..aws import aws_errors
from ..errors import ChecksFailed, ConfigError, LockHeld, ProviderError
from .base import StateBackend, parse_journal, verify_seal

PRECONDITION = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}
MISSING = {"NoSuchKey", "404", "NotFound"}


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


class S3State(StateBackend):
    """Options: `bucket` (required), `prefix` (default `cutover`), `region`."""

    journal_retries = 20

    def __init__(self, env) -> None:
        super().__init__(env)
        opts = env.state.options
        self.bucket = str(opts["bucket"])
        prefix = str(opts.get("prefix") or "cutover").strip("/")
        self.base = f"{prefix}/{env.name}/" if prefix else f"{env.name}/"
        self.region = opts.get("region")
        self._client: Any = None
        self._lock_etag: str | None = None

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            config = Config(retries={"mode": "standard", "max_attempts": 5})
            self._client = boto3.session.Session().client(
                "s3", region_name=self.region, config=config
            )
        return self._client

    def key(self, *parts: str) -> str:
        return self.base + "/".join(parts)

    def where(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _api(self, what: str):
        return aws_errors(f"S3 state {what}", self._missing_bucket)

    def _missing_bucket(self, code: str, exc: Exception) -> None:
        if code == "NoSuchBucket":
            raise ConfigError(
                f"{self.env.path}: state.bucket: bucket {self.bucket!r} does not exist",
                "create it or fix state.bucket",
            ) from exc

    def _get(self, key: str) -> tuple[bytes, str] | None:
        """(body, ETag) of an object, or None when it does not exist."""
        from botocore.exceptions import ClientError

        with self._api(f"read {self.where(key)}"):
            try:
                resp = self.client.get_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if _code(exc) in MISSING:
                    return None
                raise
            return resp["Body"].read(), resp["ETag"]

    def _put(self, key: str, body: bytes, **cond: str) -> str | None:
        """Write an object under a condition; None when the condition failed (S3 412/409)."""
        from botocore.exceptions import ClientError

        with self._api(f"write {self.where(key)}"):
            try:
                resp = self.client.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=body,
                    ContentType="application/json",
                    ServerSideEncryption="AES256",
                    **cond,
                )
            except ClientError as exc:
                if _code(exc) in PRECONDITION:
                    return None
                raise
            return resp["ETag"]

    # ------------------------------------------------------------------ snapshots

    def save_snapshot(self, doc: dict[str, Any]) -> str:
        key = self.key("snapshots", f"{doc['id']}.json")
        if self._put(key, json.dumps(doc, indent=1).encode(), IfNoneMatch="*") is None:
            raise ProviderError(f"snapshot {self.where(key)} already exists; not overwriting it")
        return doc["id"]

    def load_snapshot(self, sid: str) -> dict[str, Any]:
        key = self.key("snapshots", f"{sid}.json")
        got = None if "/" in sid else self._get(key)
        if got is None:
            raise ChecksFailed(
                f"no snapshot {sid!r} in {self.where(self.key('snapshots'))}/",
                "list them with `invoke snapshots`",
            )
        try:
            doc = json.loads(got[0])
        except ValueError as exc:
            raise ChecksFailed(f"snapshot {self.where(key)} is not valid JSON: {exc}") from exc
        return verify_seal(doc, self.where(key))

    def list_snapshots(self) -> list[dict[str, Any]]:
        prefix = self.key("snapshots", "")
        keys: list[str] = []
        with self._api(f"list {self.where(prefix)}"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                keys += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(".json")]
        out = []
        for key in sorted(keys):
            got = self._get(key)
            sid = key[len(prefix) : -len(".json")]
            try:
                if got is None:
                    raise ValueError("vanished")
                doc = verify_seal(json.loads(got[0]), self.where(key))
                doc["valid"] = True
            except (ValueError, ChecksFailed):
                doc = {"id": sid, "valid": False}
            out.append(doc)
        return out

    # ------------------------------------------------------------------ journal

    def append_journal(self, entry: dict[str, Any]) -> None:
        key = self.key("journal.jsonl")
        line = (json.dumps(entry, sort_keys=True) + "\n").encode()
        for attempt in range(self.journal_retries):
            got = self._get(key)
            if got is None:
                written = self._put(key, line, IfNoneMatch="*")
            else:
                written = self._put(key, got[0] + line, IfMatch=got[1])
            if written is not None:
                return
            time.sleep(min(0.05 * 2**attempt, 2.0) * random.random())  # another writer won
        raise ProviderError(
            f"journal {self.where(key)}: {self.journal_retries} concurrent writers in a row "
            "won the compare-and-swap; the entry was not written",
            "run `invoke status` and retry",
        )

    def read_journal(self) -> list[dict[str, Any]]:
        key = self.key("journal.jsonl")
        got = self._get(key)
        if got is None:
            return []
        return parse_journal(got[0].decode(), str(self.where(key)))

    # ------------------------------------------------------------------ lock

    def acquire_lock(self, info: dict[str, Any]) -> None:
        key = self.key("lock")
        etag = self._put(key, json.dumps(info).encode(), IfNoneMatch="*")
        if etag is None:
            holder = self.read_lock() or {}
            raise LockHeld(
                f"environment {self.env.name} is locked by {holder.get('owner', '?')} "
                f"(pid {holder.get('pid', '?')} on {holder.get('host', '?')}, since "
                f"{holder.get('started', '?')}) in {self.where(key)}",
                f"wait for it, or if it is stale run `invoke unlock --env {self.env.name}`",
            )
        self._lock_etag = etag

    def release_lock(self) -> None:
        """Delete the lock only if it is still the object we created."""
        from botocore.exceptions import ClientError

        if self._lock_etag is None:
            return
        key = self.key("lock")
        with self._api(f"release {self.where(key)}"):
            try:
                self.client.delete_object(Bucket=self.bucket, Key=key, IfMatch=self._lock_etag)
            except ClientError as exc:
                if _code(exc) not in PRECONDITION | MISSING:
                    raise
        self._lock_etag = None

    def read_lock(self) -> dict[str, Any] | None:
        got = self._get(self.key("lock"))
        if got is None:
            return None
        try:
            return json.loads(got[0])
        except ValueError:
            return {"owner": "unreadable lock object"}

    def break_lock(self) -> None:
        key = self.key("lock")
        with self._api(f"delete {self.where(key)}"):
            self.client.delete_object(Bucket=self.bucket, Key=key)
