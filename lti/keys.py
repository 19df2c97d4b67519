"""The tool's signing keys: create, rotate without downtime, publish.

The current key signs (deep-linking responses, service token requests); the JWKS
publishes the current key and the previous one, so a platform that cached our
keyset keeps verifying until it refetches. `manage.py lti_rotate_key` rotates.
"""

from __future__ import annotations

import json
import secrets

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.db import transaction
from django.utils import timezone
from jwcrypto.jwk import JWK

from .models import KeyState, ToolKey


def _new_key_material() -> tuple[str, str, dict]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    kid = secrets.token_hex(8)
    jwk = json.loads(JWK.from_pem(pem.encode()).export_public())
    jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
    return kid, pem, jwk


def current_key() -> ToolKey:
    """The key that signs; made on first use so a fresh install works without a step."""
    key = ToolKey.objects.filter(state=KeyState.CURRENT).first()
    if key is not None:
        return key
    with transaction.atomic():
        key = ToolKey.objects.select_for_update().filter(state=KeyState.CURRENT).first()
        if key is None:
            kid, pem, jwk = _new_key_material()
            key = ToolKey.objects.create(kid=kid, private_key_pem=pem, public_jwk=jwk, state=KeyState.CURRENT)
    return key


def key_rotate() -> ToolKey:
    """Make a new current key; the old current becomes previous (still published), older ones retire."""
    kid, pem, jwk = _new_key_material()
    with transaction.atomic():
        ToolKey.objects.select_for_update().filter(state=KeyState.PREVIOUS).update(
            state=KeyState.RETIRED, retired_at=timezone.now()
        )
        ToolKey.objects.filter(state=KeyState.CURRENT).update(state=KeyState.PREVIOUS)
        return ToolKey.objects.create(kid=kid, private_key_pem=pem, public_jwk=jwk, state=KeyState.CURRENT)


def jwks() -> dict:
    """The public keyset: the current key and the previous one (JWKS, RFC 7517)."""
    current_key()
    keys = ToolKey.objects.filter(state__in=[KeyState.CURRENT, KeyState.PREVIOUS]).order_by("state", "-id")
    return {"keys": [key.public_jwk for key in keys]}
