"""State in an S3 bucket, for teams that cut over from CI: `s3://<bucket>/<prefix>/<env>/`.

The Terraform S3-backend pattern, with S3's own conditional writes instead of a DynamoDB table:

- `lock`: created with `IfNoneMatch='*'`, so of two pipelines only one can create it (S3 answers
  the other 412); it names owner, host, pid and start time. It is released with `IfMatch` on
  the ETag we created, so a run never deletes a lock someone else took after `unlock`.
- `journal.jsonl`: one object; an append reads it with its ETag and writes it back with
  `IfMatch` (or `IfNoneMatch='*'` when it does not exist yet). A concurrent writer makes S3
  answer 412 and we re-read and retry, so neither loses the other's entry.
- `snapshots/<id>.json`: written once with `IfNoneMatch='*'`, never overwritten, sealed with
  the same sha256 as local snapshots, and read back and verified before `save_snapshot` returns.
- `settings.json`: the settings a rollback needs (a plain PUT; the newest copy wins).

A failed write is StateWriteError (exit 3); reading never fails on content (a torn or garbage
journal line is skipped and described in `journal_problems`, a corrupt lock object is reported).

Credentials come from the AWS chain only; nothing here writes them anywhere.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections.abc import Iterator
from typing import Any

from ..aws import aws_errors
from ..errors import ChecksFailed, ConfigError, ProviderError, StateWriteError
from .base import (
    StateBackend,
    decode_snapshot,
    lock_held_error,
    parse_journal,
    parse_lock,
    pid_namespace,
    require_sealed,
)

PRECONDITION = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}
MISSING = {"NoSuchKey", "404", "NotFound"}


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


class S3State(StateBackend):
    """Options: `bucket` (required), `prefix` (default `cutover`), `region`."""

    journal_retries = 20

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        opts = self.target.options
        self.bucket = str(opts["bucket"])
        prefix = str(opts.get("prefix") or "cutover").strip("/")
        name = self.target.env_name
        self.base = f"{prefix}/{name}/" if prefix else f"{name}/"
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

    @contextlib.contextmanager
    def _writing(self, key: str) -> Iterator[None]:
        """A failed state write is StateWriteError (a ProviderError, exit 3) naming the object."""
        try:
            yield
        except StateWriteError:
            raise
        except ProviderError as exc:
            raise StateWriteError(
                exc.message, exc.hint, path=self.where(key), reason=exc.message
            ) from exc

    def _missing_bucket(self, code: str, exc: Exception) -> None:
        if code == "NoSuchBucket":
            raise ConfigError(
                f"{self.target.label}: bucket {self.bucket!r} does not exist",
                "create it or fix the bucket name",
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

        with self._writing(key), self._api(f"write {self.where(key)}"):
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

    def _delete(self, key: str, **cond: str) -> None:
        """Delete an object; a failed condition or a missing object is not an error."""
        from botocore.exceptions import ClientError

        with self._writing(key), self._api(f"delete {self.where(key)}"):
            try:
                self.client.delete_object(Bucket=self.bucket, Key=key, **cond)
            except ClientError as exc:
                if _code(exc) not in PRECONDITION | MISSING:
                    raise

    # ------------------------------------------------------------------ snapshots

    @property
    def snapshots_location(self) -> str:
        return self.where(self.key("snapshots", ""))

    def snapshot_location(self, sid: str) -> str:
        return self.where(self.key("snapshots", f"{sid}.json"))

    def _snapshot_ids(self) -> list[str]:
        prefix = self.key("snapshots", "")
        keys: list[str] = []
        with self._api(f"list {self.where(prefix)}"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                keys += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(".json")]
        ids = (k[len(prefix) : -len(".json")] for k in keys)
        return sorted(i for i in ids if i and "/" not in i)

    def _snapshot_bytes(self, sid: str) -> bytes | None:
        got = self._get(self.key("snapshots", f"{sid}.json"))
        return None if got is None else got[0]

    def save_snapshot(self, doc: dict[str, Any]) -> str:
        sid = require_sealed(doc)
        key = self.key("snapshots", f"{sid}.json")
        etag = self._put(key, json.dumps(doc, indent=1).encode(), IfNoneMatch="*")
        if etag is None:
            raise StateWriteError(
                f"snapshot {self.where(key)} already exists; not overwriting it",
                path=self.where(key),
            )
        with self._writing(key):  # a snapshot we cannot read back is one we did not write
            got = self._get(key)
        try:
            if got is None:
                raise ValueError("it is not there")
            back = decode_snapshot(got[0], self.where(key))
            if back.get("sha256") != doc.get("sha256"):
                raise ValueError("another document")
        except (ValueError, ChecksFailed) as exc:
            self._delete(key, IfMatch=etag)
            why = getattr(exc, "message", None) or str(exc)
            raise StateWriteError(
                f"snapshot {self.where(key)} did not read back intact ({why}); it was removed",
                "check the bucket (versioning, lifecycle rules, who else writes there)",
                path=self.where(key),
                reason=why,
            ) from None
        return sid

    # ------------------------------------------------------------------ journal

    def append_journal(self, entry: dict[str, Any]) -> None:
        key = self.key("journal.jsonl")
        line = (json.dumps(entry, sort_keys=True) + "\n").encode()
        for attempt in range(self.journal_retries):
            got = self._get(key)
            if got is None:
                written = self._put(key, line, IfNoneMatch="*")
            else:
                sep = b"" if not got[0] or got[0].endswith(b"\n") else b"\n"
                written = self._put(key, got[0] + sep + line, IfMatch=got[1])
            if written is not None:
                return
            time.sleep(min(0.05 * 2**attempt, 2.0) * random.random())  # another writer won
        raise StateWriteError(
            f"journal {self.where(key)}: {self.journal_retries} concurrent writers in a row "
            "won the compare-and-swap; the entry was not written",
            "run `invoke status` and retry",
            path=self.where(key),
            reason="compare-and-swap lost",
        )

    def read_journal(self) -> list[dict[str, Any]]:
        self.journal_problems = []
        key = self.key("journal.jsonl")
        got = self._get(key)
        if got is None:
            return []
        entries, self.journal_problems = parse_journal(got[0], self.where(key))
        return entries

    # ------------------------------------------------------------------ lock

    @property
    def lock_location(self) -> str:
        return self.where(self.key("lock"))

    def acquire_lock(self, info: dict[str, Any]) -> None:
        key = self.key("lock")
        if "pid" in info and "pidns" not in info and pid_namespace():
            info = {**info, "pidns": pid_namespace()}
        for _ in range(3):  # a lock released between our PUT and our read: try again
            etag = self._put(key, json.dumps(info).encode(), IfNoneMatch="*")
            if etag is not None:
                self._lock_etag = etag
                return
            holder = self.read_lock()
            if holder is not None:
                raise lock_held_error(holder, self.where(key), self.env_name)
        raise lock_held_error(self.read_lock(), self.where(key), self.env_name)

    def release_lock(self) -> None:
        """Delete the lock only if it is still the object we created."""
        if self._lock_etag is None:
            return
        self._delete(self.key("lock"), IfMatch=self._lock_etag)
        self._lock_etag = None

    def read_lock(self) -> dict[str, Any] | None:
        key = self.key("lock")
        got = self._get(key)
        if got is None:
            return None
        return parse_lock(got[0], self.where(key))

    def break_lock(self) -> None:
        key = self.key("lock")
        with self._writing(key), self._api(f"delete {self.where(key)}"):
            self.client.delete_object(Bucket=self.bucket, Key=key)
        self._lock_etag = None

    # ------------------------------------------------------------------ settings

    def save_settings(self, doc: dict[str, Any]) -> None:
        self._put(self.key("settings.json"), json.dumps(doc, indent=1, sort_keys=True).encode())

    def load_settings(self) -> dict[str, Any] | None:
        """The kept settings; None when absent or unreadable (an S3 failure still raises)."""
        got = self._get(self.key("settings.json"))
        if got is None:
            return None
        try:
            doc = json.loads(got[0].decode("utf-8"))
        except ValueError:
            return None
        return doc if isinstance(doc, dict) else None
