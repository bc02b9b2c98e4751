"""What the Route53 provider and the S3 state backend share: botocore failures as one line.

Credentials come only from the AWS chain, so the only thing to say about them is where to set
them; an SDK message never carries a secret, but we still print only its code and message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .errors import CutoverError, ProviderError


@contextmanager
def aws_errors(
    what: str, on_client_error: Callable[[str, Exception], None] | None = None
) -> Iterator[None]:
    """Map botocore failures onto ProviderError (exit 3); `on_client_error(code, exc)` may raise
    something more specific first (a missing bucket is a config error)."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        yield
    except CutoverError:
        raise
    except NoCredentialsError as exc:
        raise ProviderError(
            f"{what}: no AWS credentials found",
            "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (the AWS chain)",
        ) from exc
    except ClientError as exc:
        err = exc.response.get("Error", {})
        code = str(err.get("Code", "?"))
        if on_client_error is not None:
            on_client_error(code, exc)
        raise ProviderError(f"{what}: {code}: {err.get('Message', '')}".rstrip(": ")) from exc
    except BotoCoreError as exc:
        raise ProviderError(f"{what}: {type(exc).__name__}: {exc}") from exc
