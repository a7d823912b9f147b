"""Secret parameter values at rest: encrypted with a key derived from SECRET_KEY.

A deployment's secrets (an admin password for the guest, say) are needed again when it scales
out, so they cannot simply be dropped; they are kept only as a Fernet token. Keys derive from
SECRET_KEY and SECRET_KEY_FALLBACKS, so rotating SECRET_KEY the Django way keeps old tokens
readable.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from gallery.parameters import Secret


def _fernet() -> MultiFernet:
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet(
        [
            Fernet(base64.urlsafe_b64encode(hashlib.sha256(f"cloudstamp.secrets:{k}".encode()).digest()))
            for k in keys
        ]
    )


def seal(values: Mapping[str, Any]) -> str:
    """The secret values among ``values`` as one token ("" when there are none)."""
    secrets = {k: v.reveal() for k, v in values.items() if isinstance(v, Secret)}
    if not secrets:
        return ""
    return _fernet().encrypt(json.dumps(secrets).encode()).decode()


def unseal(token: str) -> dict[str, Secret]:
    if not token:
        return {}
    try:
        data = json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken:
        raise ValueError(
            "the stored secrets cannot be decrypted (was SECRET_KEY changed without a fallback?)"
        ) from None
    return {k: Secret(v) for k, v in data.items()}
