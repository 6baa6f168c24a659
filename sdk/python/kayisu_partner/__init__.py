"""Kayisu (卡易速) partner SDK: verify and redeem (核销) the card codes shoppers bought.

`PartnerClient(base_url, partner_id, secret).redeem(code, new_reference())`; see README.md.
"""

from ._version import __version__
from .client import PartnerClient, new_reference
from .errors import (
    AlreadyRedeemed,
    ApiError,
    BadSignature,
    CodeVoid,
    ConnectionFailed,
    InvalidCode,
    KayisuError,
    ReferenceReused,
    TooManyAttempts,
    UnknownRedemption,
    ValidationError,
)
from .models import Redemption, Verification, VerificationStatus
from .signing import sign, signed_headers
from .webhooks import WebhookSignatureError
from .webhooks import verify as verify_webhook

__all__ = [
    "AlreadyRedeemed",
    "ApiError",
    "BadSignature",
    "CodeVoid",
    "ConnectionFailed",
    "InvalidCode",
    "KayisuError",
    "PartnerClient",
    "Redemption",
    "ReferenceReused",
    "TooManyAttempts",
    "UnknownRedemption",
    "ValidationError",
    "Verification",
    "VerificationStatus",
    "WebhookSignatureError",
    "__version__",
    "new_reference",
    "sign",
    "signed_headers",
    "verify_webhook",
]
