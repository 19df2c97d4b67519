"""PyLTI1p3 glue: the tool configuration and the launch data storage, backed by our models.

PyLTI1p3 does the protocol (OIDC login redirect, id_token signature, state, nonce,
message validation, deep-linking response, service tokens); these classes tell it
where registrations, deployments and keys live.
"""

from __future__ import annotations

import datetime as dt
import typing as t

from django.utils import timezone
from pylti1p3.deployment import Deployment as LibDeployment
from pylti1p3.launch_data_storage.base import LaunchDataStorage
from pylti1p3.registration import Registration
from pylti1p3.tool_config.abstract import ToolConfAbstract

from . import keys
from .models import Deployment, LaunchValue, Platform

# How long a platform's keyset is cached (seconds). A platform that rotates keys is
# picked up within this time; a launch signed by an unknown kid refetches at once.
PLATFORM_KEYS_TTL = 3600


class ToolRegistration(Registration):
    """A registration whose tool keys are ours (the kid is the one we publish)."""

    def __init__(self, platform: Platform):
        super().__init__()
        self.platform = platform
        key = keys.current_key()
        self._kid = key.kid
        (self.set_issuer(platform.issuer).set_client_id(platform.client_id)
         .set_auth_login_url(platform.auth_login_url).set_auth_token_url(platform.auth_token_url)
         .set_key_set_url(platform.key_set_url).set_tool_private_key(key.private_key_pem))
        if platform.auth_audience:
            self.set_auth_audience(platform.auth_audience)

    def get_kid(self) -> str:
        return self._kid

    def get_jwks(self) -> list:
        return keys.jwks()["keys"]


class ToolConf(ToolConfAbstract):
    """Registrations by (issuer, client id): one issuer may hold several client ids."""

    def __init__(self, *, platform: Platform | None = None):
        super().__init__()
        self.issuers_relation_types = {}
        self.platform = platform  # the one a launch matched, once found

    def check_iss_has_one_client(self, iss: str) -> bool:
        return False

    def check_iss_has_many_clients(self, iss: str) -> bool:
        return True

    def find_registration_by_issuer(self, iss: str, *args, **kwargs) -> Registration:
        raise NotImplementedError("Registrations are found by issuer and client id.")

    def _platform(self, iss: str, client_id: str | None) -> Platform | None:
        if self.platform is not None and self.platform.issuer == iss and (
            client_id is None or self.platform.client_id == client_id
        ):
            return self.platform
        platforms = Platform.objects.filter(issuer=iss)
        if client_id is not None:
            platforms = platforms.filter(client_id=client_id)
        found = list(platforms[:2])
        # An OIDC login without client_id is unambiguous only when the issuer has one registration.
        return found[0] if len(found) == 1 else None

    # PyLTI1p3 annotates the result as Registration, but its callers (OIDCLogin, MessageLaunch) check for none
    # found and refuse the login or launch: None is what this answers for an unknown registration.
    def find_registration_by_params(  # type: ignore[override]
            self, iss: str, client_id: str | None, *args, **kwargs) -> Registration | None:
        platform = self._platform(iss, client_id)
        if platform is None:
            return None
        self.platform = platform
        return ToolRegistration(platform)

    def find_deployment(self, iss: str, deployment_id: str) -> LibDeployment | None:
        return self.find_deployment_by_params(iss, deployment_id, None)

    def find_deployment_by_params(self, iss: str, deployment_id: str, client_id: str | None, *args,
                                  **kwargs) -> LibDeployment | None:
        platform = self._platform(iss, client_id)
        if platform is None or not Deployment.objects.filter(platform=platform, deployment_id=deployment_id).exists():
            return None
        return LibDeployment().set_deployment_id(deployment_id)


class DatabaseLaunchDataStorage(LaunchDataStorage):
    """Launch state, nonces and launch data in the database (shared by all web workers).

    Keys are prefixed with a random per-browser id kept in the `lti1p3-session-id` cookie
    under HTTPS (SameSite=None; Secure, set by PyLTI1p3), so one browser's state cannot be
    read with another's launch id.
    """

    _session_cookie_name = "session-id"

    def get_session_cookie_name(self) -> str | None:
        # Over plain HTTP (a laptop) browsers drop SameSite=None cookies in frames; the
        # state cookie and the unguessable launch id are what bind the launch then.
        assert self._request is not None
        return super().get_session_cookie_name() if self._request.is_secure() else None

    def can_set_keys_expiration(self) -> bool:
        return True

    def get_value(self, key: str) -> t.Any:
        row = LaunchValue.objects.filter(key=self._prepare_key(key), expires_at__gt=timezone.now()).first()
        return row.value if row else None

    def set_value(self, key: str, value: t.Any, exp: int | None = None) -> None:
        expires = timezone.now() + dt.timedelta(seconds=exp or 86400)
        LaunchValue.objects.update_or_create(key=self._prepare_key(key),
                                             defaults={"value": value, "expires_at": expires})

    def check_value(self, key: str) -> bool:
        return LaunchValue.objects.filter(key=self._prepare_key(key), expires_at__gt=timezone.now()).exists()

    def remove_value(self, key: str) -> None:
        LaunchValue.objects.filter(key=self._prepare_key(key)).delete()


def launch_values_purge() -> int:
    """Delete expired launch values; the nightly task calls it."""
    deleted, _ = LaunchValue.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
