"""Writes of the LTI app that are not launches, roster or passback: platform registration."""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction

from courseapp.models import Course, User

from .models import Deployment, Platform

logger = logging.getLogger(__name__)

URL_FIELDS = {
    "issuer": "Issuer (platform ID)",
    "auth_login_url": "Authentication request URL",
    "auth_token_url": "Access token URL",
    "key_set_url": "Public keyset URL",
}


class PlatformInvalid(Exception):
    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


def _clean(values: dict) -> tuple[dict, list[str], dict[str, str]]:
    errors: dict[str, str] = {}
    clean = {
        "name": str(values.get("name") or "").strip()[:120],
        "client_id": str(values.get("client_id") or "").strip(),
        "auth_audience": str(values.get("auth_audience") or "").strip(),
        "match_by_email": bool(values.get("match_by_email")),
        "match_by_student_number": bool(values.get("match_by_student_number")),
    }
    if not clean["name"]:
        errors["name"] = "Give the platform a name, e.g. ODTUClass."
    if not clean["client_id"]:
        errors["client_id"] = "Paste the Client ID Moodle shows after you save the tool."
    validate = URLValidator(schemes=["https", "http"])
    for field, label in URL_FIELDS.items():
        value = str(values.get(field) or "").strip()
        clean[field] = value.rstrip("/") if field == "issuer" else value
        try:
            validate(value)
        except ValidationError:
            errors[field] = f"{label} must be a full URL starting with https://."
    raw = values.get("deployment_ids") or ""
    deployment_ids = [d.strip() for d in (raw.replace(",", "\n").splitlines() if isinstance(raw, str) else raw)]
    deployment_ids = list(dict.fromkeys(d for d in deployment_ids if d))
    if not deployment_ids:
        errors["deployment_ids"] = "Add at least one deployment id (Moodle shows it in the tool's details; often 1)."
    return clean, deployment_ids, errors


def platform_save(*, course: Course, by: User, values: dict, platform: Platform | None = None) -> Platform:
    """Register (or update) a platform for `course`: its URLs, client id and deployment ids.

    Raises PlatformInvalid with a message per field. Deployment ids are replaced by
    the given list. Caller checked that `by` is the course's instructor or an admin.
    """
    clean, deployment_ids, errors = _clean(values)
    if errors:
        raise PlatformInvalid(errors)
    try:
        with transaction.atomic():
            if platform is None:
                platform = Platform.objects.create(course=course, created_by=by, **clean)
            else:
                for key, value in clean.items():
                    setattr(platform, key, value)
                platform.save()
            Deployment.objects.filter(platform=platform).exclude(deployment_id__in=deployment_ids).delete()
            for deployment_id in deployment_ids:
                Deployment.objects.get_or_create(platform=platform, deployment_id=deployment_id)
    except IntegrityError:
        raise PlatformInvalid({"client_id": "This issuer and client id are already registered (here or in "
                                            "another course)."}) from None
    logger.info("lti platform %s (%s, %s) saved for %s by %s", platform.pk, platform.issuer,
                platform.client_id, course.code, by.username)
    return platform


def platform_delete(*, platform: Platform, by: User) -> None:
    logger.info("lti platform %s (%s) deleted by %s", platform.pk, platform.issuer, by.username)
    platform.delete()
