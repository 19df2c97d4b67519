"""API tokens: made with a name, shown once, stored as a SHA-256 digest, revocable, listed by last use.

A key is 40 random hex characters (160 bits, the same shape as the DRF tokens
this replaced, so old keys converted by the migration keep working). The
database holds only `sha256(key)`; a request's key is looked up by its digest
through the unique index. No constant-time comparison is needed: the lookup
compares digests, not keys, and the keys are random with 160 bits of entropy,
so timing how long an index lookup of a digest takes tells an attacker nothing
they could use to build a valid key (unlike a guessable password, a key cannot
be narrowed down character by character through its digest).

`last_used_at` is written at most once a minute per token (the write only happens
when the stored time is over a minute old), so an API client's calls do not each
write a row.

The quiz answer-save fast path and the answer-versions poll (quizzes.services,
quizzes.sync) check tokens inside their own single SQL statement, by the digest
(`key_digest`) and `revoked_at IS NULL`, the same rules as TokenAuthentication here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable

from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone
from rest_framework import authentication, exceptions

from .models import ApiToken, User

KEY_BYTES = 20  # 40 hex characters
PREFIX_LENGTH = 8
NAME_MAX = 100
TOUCH_EVERY = dt.timedelta(minutes=1)


class TokenError(ValueError):
    """A token request that cannot be done; the message says what to fix."""


def key_digest(key: str) -> str:
    """The stored form of a key: SHA-256 of its UTF-8 bytes, 64 hex characters."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def default_name(now: dt.datetime | None = None) -> str:
    """The name a token gets when none is given, e.g. "terminal 2026-11-30 14:05"."""
    return "terminal " + timezone.localtime(now or timezone.now()).strftime("%Y-%m-%d %H:%M")


def clean_name(name: str | None, *, now: dt.datetime | None = None) -> str:
    """The name as given (trimmed), or the default; TokenError for an unusable one."""
    name = (name or "").strip()
    if not name:
        return default_name(now)
    if len(name) > NAME_MAX:
        raise TokenError(f"A token name is at most {NAME_MAX} characters.")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise TokenError("A token name cannot contain control characters (tabs, line breaks …).")
    return name


def token_build(*, user: User, name: str, key: str | None = None,
                now: dt.datetime | None = None) -> tuple[ApiToken, str]:
    """An unsaved token for `user` and its key (a fresh one unless `key` is given: a converted old key)."""
    key = key or secrets.token_hex(KEY_BYTES)
    token = ApiToken(user=user, name=name, prefix=key[:PREFIX_LENGTH], digest=key_digest(key),
                     created_at=now or timezone.now())
    return token, key


def token_create(*, user: User, name: str | None = None, now: dt.datetime | None = None) -> tuple[ApiToken, str]:
    """A new token for `user` and its key. The key is returned only here: nothing can show it again."""
    now = now or timezone.now()
    token, key = token_build(user=user, name=clean_name(name, now=now), now=now)
    token.save()
    return token, key


def tokens_of(*, user: User, include_revoked: bool = False) -> QuerySet[ApiToken]:
    """`user`'s tokens, newest first (live ones only unless include_revoked)."""
    tokens = ApiToken.objects.filter(user=user)
    return tokens if include_revoked else tokens.filter(revoked_at__isnull=True)


def access_own_token(user: User, token_id: int | str) -> ApiToken:
    """`user`'s own token `token_id`; Http404 for anyone else's (nobody learns that it exists)."""
    try:
        token_id = int(token_id)
    except (TypeError, ValueError):
        raise Http404("No such token.") from None
    token = ApiToken.objects.filter(pk=token_id, user=user).first()
    if token is None:
        raise Http404("No such token.")
    return token


def token_revoke(*, token: ApiToken, now: dt.datetime | None = None) -> ApiToken:
    """Revoke `token` (it stops working at once, on every path). Revoking it again changes nothing."""
    with transaction.atomic():
        updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=now or timezone.now())
        if updated:
            token.refresh_from_db(fields=["revoked_at"])
    return token


def tokens_revoke_all(*, user: User, now: dt.datetime | None = None) -> int:
    """Revoke every live token of `user` (e.g. an instructor locking a student's scripts out); how many."""
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=now or timezone.now())


def live_token_counts(*, user_ids: Iterable[int]) -> dict[int, int]:
    """How many live (not revoked) tokens each of these users has; users with none are absent. One query."""
    rows = (ApiToken.objects.filter(user_id__in=list(user_ids), revoked_at__isnull=True)
            .values("user_id").annotate(n=Count("id")).values_list("user_id", "n"))
    return dict(rows)


def user_for_key(key: str, *, now: dt.datetime | None = None) -> tuple[User, ApiToken] | None:
    """The active owner of the live token `key` and the token, noting its use; None for any other key."""
    token = (ApiToken.objects.select_related("user")
             .filter(digest=key_digest(key), revoked_at__isnull=True).first())
    if token is None or not token.user.is_active:
        return None
    now = now or timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
        # Conditional, so concurrent requests in the same minute write the row once between them.
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - TOUCH_EVERY)).update(last_used_at=now)
        token.last_used_at = now
    return token.user, token


class ApiTokenAuthentication(authentication.TokenAuthentication):
    """DRF authentication by `Authorization: Token <key>`, looked up by the key's digest.

    Same header, same `WWW-Authenticate: Token` challenge and same errors as DRF's
    TokenAuthentication; a revoked token, an unknown one, or an inactive owner's is refused (401).
    `request.auth` is the ApiToken.
    """

    keyword = "Token"

    def authenticate_credentials(self, key: str):
        found = user_for_key(key)
        if found is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        return found


def convert_legacy_keys(rows: Iterable[tuple[int, str, dt.datetime | None]], *, token_model=ApiToken,
                        now: dt.datetime | None = None) -> int:
    """Store old plain-text DRF keys (user id, key, created) as hashed tokens named "converted token".

    Used by the data migration (with its historical model), so scripts holding an old key keep
    working. A key already converted is skipped. Returns how many were stored.
    """
    now = now or timezone.now()
    made = []
    for user_id, key, created in rows:
        made.append(token_model(user_id=user_id, name="converted token", prefix=key[:PREFIX_LENGTH],
                                digest=key_digest(key), created_at=created or now))
    existing = set(token_model.objects.filter(digest__in=[t.digest for t in made]).values_list("digest", flat=True))
    fresh = [t for t in made if t.digest not in existing]
    token_model.objects.bulk_create(fresh)
    return len(fresh)


LEGACY_TABLE = "authtoken_token"  # rest_framework.authtoken's table, no longer an installed app


def convert_legacy_table(apps, schema_editor) -> None:
    """Migration step: hash every key in DRF's old token table into ApiToken, then empty that table.

    Runs with the migration's historical models; does nothing where the old table never existed
    (a fresh database). The table itself is left (empty): django_migrations still lists
    authtoken's migrations, and dropping it would break re-adding that app.
    """
    connection = schema_editor.connection
    if LEGACY_TABLE not in connection.introspection.table_names():
        return
    quoted = connection.ops.quote_name(LEGACY_TABLE)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT user_id, {connection.ops.quote_name('key')}, created FROM {quoted}")
        rows = [(user_id, key, _as_datetime(created)) for user_id, key, created in cursor.fetchall()]
        convert_legacy_keys(rows, token_model=apps.get_model("courseapp", "ApiToken"))
        cursor.execute(f"DELETE FROM {quoted}")


def _as_datetime(value) -> dt.datetime | None:
    """A timestamp as a raw cursor returns it (a datetime, or text on SQLite), aware."""
    from django.utils.dateparse import parse_datetime

    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value, dt.UTC)
    return value
