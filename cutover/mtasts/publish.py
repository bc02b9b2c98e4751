"""Where the stages publish a domain's policy file, for the user's web server to serve it.

- `directory`: `<directory>/<domain>/.well-known/mta-sts.txt`, so one web server (or one
  document root per `mta-sts.<domain>` virtual host) serves every domain; written atomically
  (temporary file, fsync, rename, directory fsync), never half a file.
- `s3`: object `<key_prefix><domain>/.well-known/mta-sts.txt` in a bucket (behind CloudFront or
  the like), through boto3 and the AWS credential chain.

Every write is read back by the caller before the `_mta-sts` id changes.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol

from ..errors import ProviderError

WELL_KNOWN = ".well-known/mta-sts.txt"


class Publisher(Protocol):
    def location(self, domain: str) -> str: ...
    def read(self, domain: str) -> str | None: ...
    def write(self, domain: str, text: str) -> None: ...
    def delete(self, domain: str) -> None: ...


class DirectoryPublisher:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, domain: str) -> Path:
        return self.directory / domain / WELL_KNOWN

    def location(self, domain: str) -> str:
        return str(self.path(domain))

    def read(self, domain: str) -> str | None:
        path = self.path(domain)
        try:
            return path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise ProviderError(f"MTA-STS policy {path}: cannot read: {exc}") from exc

    def write(self, domain: str, text: str) -> None:
        path = self.path(domain)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".mta-sts.", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(text.encode("utf-8"))
                    fh.flush()
                    os.fsync(fh.fileno())
                os.chmod(tmp, 0o644)  # the web server reads it
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            dfd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError as exc:
            raise ProviderError(
                f"MTA-STS policy {path}: cannot write: {exc.strerror or exc}"
            ) from exc

    def delete(self, domain: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(domain).unlink()


class S3Publisher:
    def __init__(self, options: dict[str, Any]) -> None:
        self.bucket = str(options["bucket"])
        self.prefix = str(options.get("key_prefix") or "")
        self.region = options.get("region")
        self.endpoint_url = options.get("endpoint_url")
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.session.Session().client(
                "s3", region_name=self.region, endpoint_url=self.endpoint_url
            )
        return self._client

    def key(self, domain: str) -> str:
        return f"{self.prefix}{domain}/{WELL_KNOWN}"

    def location(self, domain: str) -> str:
        return f"s3://{self.bucket}/{self.key(domain)}"

    def read(self, domain: str) -> str | None:
        from botocore.exceptions import ClientError

        from ..aws import aws_errors

        with aws_errors(f"MTA-STS policy {self.location(domain)}"):
            try:
                resp = self.client.get_object(Bucket=self.bucket, Key=self.key(domain))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    return None
                raise
            body = resp["Body"].read()
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError as exc:  # as DirectoryPublisher says it: one line, exit 3
            raise ProviderError(
                f"MTA-STS policy {self.location(domain)}: cannot read: {exc}"
            ) from exc

    def write(self, domain: str, text: str) -> None:
        from ..aws import aws_errors

        with aws_errors(f"MTA-STS policy {self.location(domain)}"):
            self.client.put_object(
                Bucket=self.bucket,
                Key=self.key(domain),
                Body=text.encode("utf-8"),
                ContentType="text/plain",
            )

    def delete(self, domain: str) -> None:
        from ..aws import aws_errors

        with aws_errors(f"MTA-STS policy {self.location(domain)}"):
            self.client.delete_object(Bucket=self.bucket, Key=self.key(domain))


def publisher(env: Any) -> Publisher:
    """The target the environment's `mta_sts.publish` names (paths relative to the project)."""
    cfg = env.mta_sts
    if cfg.publish == "s3":
        return S3Publisher(cfg.publish_options)
    return DirectoryPublisher(env.root / cfg.publish_options["directory"])
