"""`kayisu`: the operator's command line for a Kayisu stack (local or deployed).

It talks only to the public admin API and to the presigned S3 URLs the API hands out, so it
needs no AWS credentials beyond a Cognito login.
"""

from __future__ import annotations

__version__ = "0.1.0"
