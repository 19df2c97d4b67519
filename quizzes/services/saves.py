"""The answer save: the one rule for who may save, whether the attempt still takes answers, and ordering.

The hot path of a quiz. Both entrances use answer_save here: the DRF view
(quizzes.apis.AnswerSaveApi, session or token) and the token fast path
(quizzes.middleware, through answer_save_by_token, which only skips explaining
a refusal). The rule itself is one SQL statement (_upsert_sql), run as a
prepared statement on PostgreSQL, plus the per-process cache of what never
changes about an attempt (_AttemptFacts).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone

from courseapp.models import ApiToken, Membership, User
from courseapp.tokens import key_digest

from .. import calculations as calc
from .. import prepared
from ..models import Attempt, AttemptState, Response


class AnswerRefused(Exception):
    """A taking-path refusal a student can understand. `status` is the HTTP status to answer with."""

    def __init__(self, message: str, *, code: str, status: int = 409):
        super().__init__(message)
        self.message, self.code, self.status = message, code, status


def _deadline_message(deadline: dt.datetime) -> str:
    local = timezone.localtime(deadline)
    return (f"Time is up: this attempt's deadline was {local:%Y-%m-%d %H:%M:%S}; "
            "answers sent after it are not accepted.")



@dataclass(frozen=True)
class SaveResult:
    """What the server holds for the answer after a save, acknowledged after commit.

    version: the server's version of the stored answer (the next save names it as
    its base); seq: the stored script sequence number; stale: a script's save
    carried an older or equal seq than the stored one and changed nothing.
    """

    slot: int
    seq: int
    saved_at: dt.datetime
    stale: bool
    version: int = 0

    def as_json(self) -> dict:
        """The body of the save's 200 answer (the same from the fast path and from the DRF view)."""
        return {"slot": self.slot, "version": self.version, "seq": self.seq, "saved_at": self.saved_at.isoformat(),
                "stale": self.stale}


class AnswerConflict(AnswerRefused):
    """A save based on an older version than the one stored, with a different value: another device saved between.

    Carries what the server holds so the page can offer "keep this one / keep mine".
    """

    def __init__(self, *, slot: int, value, version: int, saved_at: dt.datetime):
        local = timezone.localtime(saved_at)
        super().__init__(
            f"This answer was changed on another device at {local:%H:%M:%S}; keep that one, or send yours again "
            f"with base {version} to keep yours.", code="conflict", status=409,
        )
        self.slot, self.value, self.version, self.saved_at = slot, value, version, saved_at

    def as_json(self) -> dict:
        return {"detail": self.message, "code": self.code, "slot": self.slot, "value": self.value,
                "version": self.version, "saved_at": self.saved_at.isoformat()}


@dataclass(frozen=True)
class _AttemptFacts:
    """What never changes about an attempt once started: whose it is, where, and its questions."""

    student_id: int
    course_id: int
    course_code: str
    slots: dict[int, dict]
    started_at: dt.datetime  # with the id, identifies the row even if a test database reuses ids


_FACTS: dict[int, _AttemptFacts] = {}
_FACTS_MAX = 20000


def _attempt_facts(attempt_id: int) -> _AttemptFacts | None:
    """Per-process cache of immutable attempt facts (state, deadline and seq are always read from the database)."""
    facts = _FACTS.get(attempt_id)
    if facts is None:
        row = Attempt.objects.filter(pk=attempt_id).values_list(
            "student_id", "quiz__course_id", "quiz__course__code", "layout", "started_at").first()
        if row is None:
            return None
        if len(_FACTS) >= _FACTS_MAX:
            _FACTS.clear()
        facts = _FACTS[attempt_id] = _AttemptFacts(
            student_id=row[0], course_id=row[1], course_code=row[2], slots={e["slot"]: e for e in row[3]},
            started_at=row[4],
        )
    return facts


def _upsert_sql(*, by_token: bool) -> str:
    """One statement: check who asks and that the attempt still takes answers, lock it, upsert the answer.

    The attempt must be the asker's (by_token: the user owning the live (not
    revoked) API token whose SHA-256 digest is passed, who must be active; else
    the student id passed), its student still
    an active member of the course, in progress and not past deadline + grace.
    The attempt row is locked (FOR NO KEY UPDATE) so a concurrent submit waits for
    this save to commit, or this save sees the submitted state and inserts nothing.
    The row is found by its primary key alone, in a MATERIALIZED CTE, and the other
    conditions are checked on the locked (newest) version: otherwise the planner may
    reach it through the (state, accept_until) index, which at the end of a quiz means
    reading every attempt in progress for each save (a generic plan on a table whose
    statistics are old or missing did exactly that).
    The update only happens when the save's base is the stored version (a
    browser's save), or, for a save without a base (a script's), when its
    sequence number is higher than the stored one, and never to an answer the
    student checked (final: review_during); each update adds 1 to the version. RETURNING gives no row when nothing was written. On PostgreSQL a
    token save also notes the token's last use (at most once a minute), in the statement.
    Parameters: attempt id, started_at, course id, token digest or student id, now,
    then slot, value (JSON text), seq, now, needs_manual, base, base (None: seq rules).
    """
    postgres = connection.vendor == "postgresql"
    lock = "FOR NO KEY UPDATE" if postgres else ""
    materialized = "MATERIALIZED " if postgres else ""
    json_value, stamp = ("%s::jsonb", "%s::timestamptz") if postgres else ("%s", "%s")
    greatest = "GREATEST" if postgres else "MAX"
    if by_token:
        who = (f"JOIN {ApiToken._meta.db_table} t ON t.user_id = a.student_id "
               f"JOIN {User._meta.db_table} u ON u.id = a.student_id")
        asker = "t.digest = %s AND t.revoked_at IS NULL AND u.is_active"
    else:
        who, asker = "", "a.student_id = %s"
    touch = ""
    if by_token and postgres:
        # The token's last use, to the minute, in this same statement (a data-modifying CTE runs
        # whether or not it is referenced). Only ever PREPAREd, so $4 (the digest) and $5 (now) are
        # the parameters above; it writes the row at most once a minute. SQLite has no such CTE:
        # there (development and tests) the fast path leaves last_used_at to the other API calls.
        touch = f"""
, touch AS (
    UPDATE {ApiToken._meta.db_table} SET last_used_at = $5
     WHERE digest = $4 AND revoked_at IS NULL
       AND (last_used_at IS NULL OR last_used_at <= $5 - interval '1 minute')
)"""
    return f"""
WITH attempt AS {materialized}(
    SELECT id, student_id, state, accept_until FROM quizzes_attempt
     WHERE id = %s AND started_at = {stamp}
     {lock}
), live AS (
    SELECT a.id FROM attempt a
      JOIN {Membership._meta.db_table} m ON m.user_id = a.student_id AND m.course_id = %s AND m.is_active
      {who}
     WHERE {asker} AND a.state = 'in_progress' AND a.accept_until >= {stamp}
){touch}
INSERT INTO quizzes_response (attempt_id, slot_id, value, client_seq, version, saved_at, needs_manual, comment)
SELECT live.id, %s, {json_value}, %s, 1, {stamp}, %s, '' FROM live WHERE true
ON CONFLICT (attempt_id, slot_id) DO UPDATE
   SET value = excluded.value, client_seq = {greatest}(quizzes_response.client_seq, excluded.client_seq),
       version = quizzes_response.version + 1, saved_at = excluded.saved_at
 WHERE quizzes_response.checked_at IS NULL
   AND CASE WHEN %s IS NULL THEN quizzes_response.client_seq < excluded.client_seq
            ELSE quizzes_response.version = %s END
RETURNING version, client_seq
"""


_UPSERT_SQL: dict[tuple[str, bool], str] = {}
# PostgreSQL parameter types of _upsert_sql's placeholders, in order (the asker is a token key or a student id).
_UPSERT_TYPES = ("bigint", "timestamptz", "bigint", "{asker}", "timestamptz", "bigint", "jsonb", "bigint",
                 "timestamptz", "boolean", "bigint", "bigint")
_PARAM_TYPES = {by_token: tuple(t.format(asker="text" if by_token else "bigint") for t in _UPSERT_TYPES)
                for by_token in (True, False)}


def _upsert(*, facts: _AttemptFacts, attempt_id: int, asker: int | str, by_token: bool, slot_id: int, value,
            seq: int, base: int | None, now: dt.datetime) -> tuple[int, int] | None:
    """Run the upsert statement (in autocommit it is its own transaction).

    Returns the stored (version, seq), or None if nothing was written.

    On a persistent PostgreSQL connection outside a transaction, Django would
    first spend a round trip checking that the connection is alive
    (CONN_HEALTH_CHECKS: SELECT 1 before the first query of each request). This
    statement is safe to repeat (a repeat of a save that did commit writes
    nothing, and the caller then reports it stale with the same seq, which the
    client counts as saved), so it runs at once and, only if the connection
    turns out dead, reconnects and runs once more.
    """
    params = _upsert_params(facts=facts, attempt_id=attempt_id, asker=asker, slot_id=slot_id, value=value, seq=seq,
                            base=base, now=now)
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return _execute_upsert(params, by_token=by_token)
    setattr(connection, "health_check_done", True)  # noqa: B010 (Django's own flag; not in the stubs)
    try:
        return _execute_upsert(params, by_token=by_token)
    except (InterfaceError, OperationalError):
        if connection.connection is not None and connection.is_usable():
            raise  # the connection is fine: a real error
        connection.close()
        return _execute_upsert(params, by_token=by_token)


def _upsert_params(*, facts: _AttemptFacts, attempt_id: int, asker: int | str, slot_id: int, value, seq: int,
                   base: int | None, now: dt.datetime) -> list:
    """_upsert_sql's parameters, in its order."""
    stamp = connection.ops.adapt_datetimefield_value(now)
    return [attempt_id, connection.ops.adapt_datetimefield_value(facts.started_at), facts.course_id, asker, stamp,
            slot_id, json.dumps(value), seq, stamp, False, base, base]


def _statement_name(*, by_token: bool) -> str:
    return "quizzes_answer_save_token" if by_token else "quizzes_answer_save_student"


def _execute_upsert(params: list, *, by_token: bool) -> tuple[int, int] | None:
    """Run the upsert; on PostgreSQL as a prepared statement (quizzes.prepared), planned once per connection."""
    key = (connection.vendor, by_token)
    sql = _UPSERT_SQL.get(key) or _UPSERT_SQL.setdefault(key, _upsert_sql(by_token=by_token))
    with connection.cursor() as cursor:
        prepared.execute(cursor, name=_statement_name(by_token=by_token), sql=sql, types=_PARAM_TYPES[by_token],
                         params=params)
        stored = cursor.fetchone()
    return None if stored is None else (stored[0], stored[1])


def _save_order(*, seq, base) -> tuple[int, int | None]:
    """The save's ordering fields checked: (seq, base), seq 0 when the save names a base (a browser's).

    Raises AnswerRefused (400) saying what to send.
    """
    if base is not None:
        if isinstance(base, bool) or not isinstance(base, int) or not 0 <= base < 2**31:
            raise AnswerRefused("Send base as the whole-number version of the answer your edit replaces "
                                "(0 when nothing was saved yet; the version comes with the page and each save).",
                                code="bad_base", status=400)
        return 0, base
    if seq is None:
        raise AnswerRefused(
            "Send JSON {\"value\": …, \"base\": n}, base being the version of the answer your edit replaces "
            "(0 for none), or a script's {\"value\": …, \"seq\": n} with a rising sequence number.",
            code="bad_body", status=400)
    if isinstance(seq, bool) or not isinstance(seq, int) or not 1 <= seq < 2**62:
        raise AnswerRefused("Send a positive whole sequence number (seq) with each answer.", code="bad_seq",
                            status=400)
    return seq, None


def _save(
    *, attempt_id: int, course_code: str, slot_id: int, value, seq, base, now: dt.datetime | None,
    student: User | None, token: str | None, _retry: bool = False,
) -> SaveResult:
    """The answer-save rule, once, for every entrance; see answer_save for the contract.

    Python checks what the cached facts of the attempt can decide (whose attempt for a
    student; the course; the question; the value; the ordering fields); the one SQL
    statement (_upsert_sql) decides the rest where the data is: the token's user, the
    membership, the attempt in progress within deadline + grace, and the version order.
    With a token, a declined save raises AnswerRefused code "declined" without looking
    further (the caller, the fast path, hands the request to the DRF view, which explains).
    """
    seq, base = _save_order(seq=seq, base=base)
    now = now or timezone.now()
    refusal: AnswerRefused | None = None
    for fresh in (False, True):  # a refusal based on cached facts is checked once more against the database
        if fresh:
            _FACTS.pop(attempt_id, None)
        facts = _attempt_facts(attempt_id)
        if (facts is None or facts.course_code != course_code
                or (student is not None and facts.student_id != student.id)):
            refusal = AnswerRefused("No such attempt.", code="not_found", status=404)
        elif slot_id not in facts.slots:
            refusal = AnswerRefused("That question is not part of this attempt.", code="bad_slot", status=400)
        else:
            problem = calc.validate_value(facts.slots[slot_id], value)
            refusal = AnswerRefused(problem, code="bad_value", status=400) if problem else None
        if refusal is None or token is not None:
            break
    if refusal is not None:
        raise refusal
    assert facts is not None
    if token is not None:
        stored = _upsert(facts=facts, attempt_id=attempt_id, asker=key_digest(token), by_token=True, slot_id=slot_id,
                         value=value, seq=seq, base=base, now=now)
    else:
        assert student is not None
        stored = _upsert(facts=facts, attempt_id=attempt_id, asker=student.id, by_token=False, slot_id=slot_id,
                         value=value, seq=seq, base=base, now=now)
    if stored is not None:
        return SaveResult(slot=slot_id, version=stored[0], seq=stored[1], saved_at=now, stale=False)
    if token is not None:
        raise AnswerRefused("The save was declined.", code="declined")
    assert student is not None
    # Nothing written: the attempt no longer takes answers, its student left the course, or another save won.
    row = Attempt.objects.filter(pk=attempt_id).values_list("state", "deadline", "accept_until", "started_at").first()
    if row is None or row[3] != facts.started_at:  # the cached facts were of another row with this id
        _FACTS.pop(attempt_id, None)
        if row is None or _retry:
            raise AnswerRefused("No such attempt.", code="not_found", status=404)
        return _save(attempt_id=attempt_id, course_code=course_code, slot_id=slot_id, value=value,
                     seq=seq or None, base=base, now=now, student=student, token=None, _retry=True)
    state, deadline, accept_until, _ = row
    if state != AttemptState.IN_PROGRESS:
        raise AnswerRefused("This attempt has been submitted; answers can no longer change.", code="submitted")
    if accept_until < now:
        raise AnswerRefused(_deadline_message(deadline), code="deadline_passed")
    if not Membership.objects.filter(course_id=facts.course_id, user_id=student.id, is_active=True).exists():
        raise AnswerRefused("You are no longer a member of this course, so answers are not accepted; "
                            "ask the instructor.", code="not_member", status=403)
    held = Response.objects.filter(attempt_id=attempt_id, slot_id=slot_id).values_list(
        "value", "version", "client_seq", "saved_at", "checked_at").get()
    if held[4] is not None and held[0] != value:
        raise AnswerRefused("You checked this answer, so it is final and can no longer change.", code="checked")
    if base is None:
        return SaveResult(slot=slot_id, version=held[1], seq=held[2], saved_at=now, stale=True)
    if held[0] == value:  # a retry of a save whose answer got lost, or both devices chose the same
        return SaveResult(slot=slot_id, version=held[1], seq=held[2], saved_at=held[3], stale=False)
    raise AnswerConflict(slot=slot_id, value=held[0], version=held[1], saved_at=held[3])


def answer_save(
    *, attempt_id: int, student: User, course_code: str, slot_id: int, value, seq=None, base=None,
    now: dt.datetime | None = None,
) -> SaveResult:
    """Save one answer: an idempotent upsert keyed by (attempt, slot), guarded by the server's version.

    base: the version of the answer this edit replaces (0: none was saved), as
    the page or the last save told the client. The save is applied only if base
    is still the stored version; then the version rises by 1. If another device
    saved in between, a different value is refused with AnswerConflict (409,
    carrying the stored value, version and time); the same value is acknowledged
    (a retry of a save whose answer was lost). Ordering never depends on a clock.

    seq (scripts, when base is None): a rising number chosen by the client; a save
    whose seq is not above the stored one changes nothing and is answered stale.

    The hot path of a quiz: one SQL statement (after the first save of an attempt
    in this process, which also reads the attempt's question layout). It commits
    before this function returns, so an acknowledged answer is durable.
    Raises AnswerRefused (404 no such attempt of this student; 403 no longer a
    member of the course; 409 submitted, past the deadline + grace, or a
    conflict; 400 bad value, base or sequence number, or neither sent).
    """
    return _save(attempt_id=attempt_id, course_code=course_code, slot_id=slot_id, value=value, seq=seq, base=base,
                 now=now, student=student, token=None)


def answer_save_by_token(
    *, token: str, attempt_id: int, course_code: str, slot_id: int, value, seq=None, base=None,
    now: dt.datetime | None = None,
) -> SaveResult | None:
    """answer_save for an API client's token, checked in the statement that writes (the fast path).

    The same rule as answer_save (_save): the token must be live and its user active,
    own the attempt and still be an active member of the course. Returns None when it
    wrote nothing for any reason: it never explains; the caller then authenticates the
    ordinary way and calls answer_save, which refuses with the reason or reports the
    stale seq or conflict.
    """
    try:
        return _save(attempt_id=attempt_id, course_code=course_code, slot_id=slot_id, value=value, seq=seq,
                     base=base, now=now, student=None, token=token)
    except AnswerRefused:
        return None
