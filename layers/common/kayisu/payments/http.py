"""What the real providers share: their secrets (Secrets Manager, cached per container by
Powertools parameters), one HTTPS call with the standard library, RSA signing and headers."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from kayisu.aws import client
from kayisu.config import get_settings
from kayisu.container import scope
from kayisu.payments.provider import NotConfigured, ProviderError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

T = TypeVar("T")
TIMEOUT_SECONDS = 8  # under the functions' timeouts, with room to record the outcome


def load_secret(provider: str, arn: str) -> dict[str, Any]:
    """The provider's secret (JSON), fetched at most once per `ProviderSecretsMaxAge` seconds per
    container: a rotated secret is picked up within that time without a redeploy."""
    value = _fetch(provider, arn, "json")
    if not isinstance(value, dict):
        raise NotConfigured(provider, "NOT_CONFIGURED", "the provider's secret is not a JSON object")
    return value


def load_text_secret(provider: str, arn: str) -> str:
    return str(_fetch(provider, arn, None))


_providers: dict[str, Any] = {}


def _fetch(provider: str, arn: str, transform: str | None) -> Any:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    if not arn:
        raise NotConfigured(provider, "NOT_CONFIGURED", "no secret is configured for this provider")
    container = scope()  # its cache is the container's own (the local stack runs several in one process)
    if container not in _providers:
        _providers[container] = SecretsProvider(boto3_client=client("secretsmanager"))
    return _providers[container].get(arn, transform=transform, max_age=get_settings().provider_secrets_max_age)


class Parsed(Generic[T]):
    """A secret parsed (its keys loaded) once per version of it, not on every request."""

    def __init__(self, secret: Callable[[], Mapping[str, Any]], parse: Callable[[Mapping[str, Any]], T]) -> None:
        self._secret, self._parse = secret, parse
        self._kept: tuple[str, T] | None = None

    def __call__(self) -> T:
        raw = self._secret()
        digest = hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()
        if self._kept is None or self._kept[0] != digest:
            self._kept = (digest, self._parse(raw))
        return self._kept[1]


def required(provider: str, secret: Mapping[str, Any], *names: str) -> list[str]:
    """The named string values of a secret; NotConfigured naming the first one missing."""
    values = []
    for name in names:
        value = secret.get(name)
        if not isinstance(value, str) or not value.strip():
            raise NotConfigured(provider, "NOT_CONFIGURED", f"the secret has no value for {name!r}")
        values.append(value)
    return values


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"{}")
        except ValueError:
            return {}


def call(provider: str, method: str, url: str, headers: Mapping[str, str], body: bytes | None = None) -> Reply:
    """One request; any HTTP status comes back as a Reply, a network failure as ProviderError."""
    import urllib.error  # here, not at import: the sandbox's functions never call out
    import urllib.request

    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers))  # noqa: S310 - configured https base
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            return Reply(int(response.status), {k.lower(): v for k, v in response.headers.items()}, response.read())
    except urllib.error.HTTPError as exc:
        return Reply(int(exc.code), {k.lower(): v for k, v in exc.headers.items()}, exc.read())
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise ProviderError(provider, "UNREACHABLE", type(exc).__name__) from None


def header(headers: Mapping[str, str], name: str) -> str:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return ""


def private_key(provider: str, pem: str) -> RSAPrivateKey:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key(_pem(pem, "PRIVATE KEY").encode(), password=None)
    if not isinstance(key, RSAPrivateKey):
        raise NotConfigured(provider, "NOT_CONFIGURED", "the merchant key is not an RSA key")
    return key


def public_key(provider: str, pem: str) -> RSAPublicKey:
    """An RSA public key from a PEM public key, a PEM certificate, or bare base64 of either
    (Alipay's console shows the key without its PEM lines)."""
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from cryptography.x509 import load_pem_x509_certificate

    text = pem.strip()
    key = (
        load_pem_x509_certificate(text.encode()).public_key()
        if "BEGIN CERTIFICATE" in text
        else load_pem_public_key(_pem(text, "PUBLIC KEY").encode())
    )
    if not isinstance(key, RSAPublicKey):
        raise NotConfigured(provider, "NOT_CONFIGURED", "a provider key is not an RSA key")
    return key


def _pem(text: str, label: str) -> str:
    text = text.strip()
    if text.startswith("-----BEGIN"):
        return text
    body = "".join(text.split())
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"])


def rsa_sign(key: RSAPrivateKey, message: bytes) -> str:
    """SHA256withRSA (PKCS#1 v1.5), base64: WeChat Pay v3's and Alipay's RSA2 signatures."""
    from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
    from cryptography.hazmat.primitives.hashes import SHA256

    return base64.b64encode(key.sign(message, PKCS1v15(), SHA256())).decode()


def rsa_verify(key: RSAPublicKey, message: bytes, signature: str) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
    from cryptography.hazmat.primitives.hashes import SHA256

    try:
        raw = base64.b64decode(signature.encode(), validate=True)
    except ValueError:
        return False
    try:
        key.verify(raw, message, PKCS1v15(), SHA256())
    except InvalidSignature:
        return False
    return True


# Client errors that do not mean "no": a timeout, a request still in progress, a rate limit.
_NOT_DECLINED = frozenset({408, 409, 425, 429})


def refused(provider: str, reply: Reply, what: str) -> ProviderError:
    """A provider's error answer as ProviderError, with its own code when it gave one. A 4xx
    answer (but those above) declines the request; a 5xx, or a 2xx we cannot read, may not."""
    answer = reply.json()
    answer = answer if isinstance(answer, dict) else {}
    error: dict[str, Any] = answer["error"] if isinstance(answer.get("error"), dict) else {}  # Stripe's shape
    code = str(answer.get("code") or error.get("code") or error.get("type") or f"HTTP_{reply.status}")
    message = str(answer.get("message") or error.get("message") or "")[:200]
    declined = 400 <= reply.status < 500 and reply.status not in _NOT_DECLINED
    return ProviderError(provider, code, f"{what} refused: {message}", reply.status, declined)
