"""Keeping every open page of an attempt in step: the cheap poll of answer versions.

A student may have the same attempt open on a laptop and a phone. Each page asks
every few seconds which version of each answer the server holds (versions are
the server's, see models.Response), and fetches the values only of the answers
whose version it does not know. Two queries, whatever the number of questions:
the attempt (checked to be the asker's, in a course they are still an active
member of) and its answers' versions.
"""

from __future__ import annotations

import datetime as dt
import json

from django.db import connection
from django.http import Http404
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from courseapp.models import ApiToken, Course, Membership, User
from courseapp.tokens import key_digest

from . import prepared
from .models import Attempt, Quiz, Response


def _attempt_sql(*, by_token: bool, postgres: bool) -> str:
    """The attempt's state, if it is the asker's in that course and they are still an active member.

    Written out (not built by the ORM on every poll: building the two querysets was most of a poll's CPU).
    The attempt is found by its primary key alone, in a MATERIALIZED CTE: the statement runs on
    its generic plan (quizzes.prepared), and on tables without statistics that plan went from the
    token to the course's quizzes to every attempt of the quiz.
    Parameters: attempt id, token digest or student id, course code.
    """
    if by_token:
        who = (f"JOIN {ApiToken._meta.db_table} t ON t.user_id = a.student_id AND t.digest = %s "
               f"AND t.revoked_at IS NULL JOIN {User._meta.db_table} u ON u.id = a.student_id AND u.is_active")
        asker = ""
    else:
        who, asker = "", "a.student_id = %s AND "
    return f"""
WITH a AS {"MATERIALIZED " if postgres else ""}(
    SELECT id, quiz_id, student_id, state, deadline, submitted_at, auto_submitted
      FROM {Attempt._meta.db_table} WHERE id = %s
)
SELECT a.state, a.deadline, a.submitted_at, a.auto_submitted FROM a
  JOIN {Quiz._meta.db_table} q ON q.id = a.quiz_id
  JOIN {Course._meta.db_table} c ON c.id = q.course_id
  JOIN {Membership._meta.db_table} m ON m.course_id = q.course_id AND m.user_id = a.student_id AND m.is_active
  {who}
 WHERE {asker}c.code = %s
 LIMIT 1"""


_ATTEMPT_SQL = {(by_token, postgres): _attempt_sql(by_token=by_token, postgres=postgres)
                for by_token in (True, False) for postgres in (True, False)}
_ANSWERS_SQL = f"SELECT slot_id, version, saved_at, value FROM {Response._meta.db_table} WHERE attempt_id = %s " \
               "ORDER BY slot_id"
# Both run as prepared statements on PostgreSQL (quizzes.prepared): planning the six-table join took
# ~3.4 ms of the database's CPU per poll, running it ~0.1 ms.
_ATTEMPT_TYPES = {True: ("bigint", "text", "text"), False: ("bigint", "bigint", "text")}


def _aware(value) -> dt.datetime | None:
    """A datetime column as the raw cursor gives it (PostgreSQL: aware; SQLite: text in UTC) made aware."""
    if value is None or isinstance(value, dt.datetime) and timezone.is_aware(value):
        return value
    parsed = value if isinstance(value, dt.datetime) else parse_datetime(value)
    assert parsed is not None
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=dt.UTC)


def answer_versions(*, student: User | None = None, token: str | None = None, code: str, attempt_id: int,
                    values_for: frozenset[int] = frozenset(), now: dt.datetime | None = None) -> dict:
    """The attempt's state and each saved answer's version and time; the values of the slots in `values_for`.

    The asker is `student` (authenticated already) or the owner of the API `token`
    (checked here, in the same query, by the key's digest: a token not revoked, its user active). Raises Http404
    when the attempt is not the asker's own in that course, or they are no longer
    an active member (staff included: they review attempts, they do not take them).
    """
    asker: int | str
    if not 0 < attempt_id < 2**63:  # beyond any id (and the prepared statement's bigint parameter)
        raise Http404("No such attempt.")
    postgres = connection.vendor == "postgresql"
    if student is not None:
        sql, asker = _ATTEMPT_SQL[False, postgres], student.id
    elif token:
        sql, asker = _ATTEMPT_SQL[True, postgres], key_digest(token)
    else:
        raise Http404("No such attempt.")
    by_token = student is None
    with connection.cursor() as cursor:
        prepared.execute(cursor, name=f"quizzes_poll_attempt_{'token' if by_token else 'student'}", sql=sql,
                         types=_ATTEMPT_TYPES[by_token], params=[attempt_id, asker, code])
        row = cursor.fetchone()
        if row is None:
            raise Http404("No such attempt.")
        prepared.execute(cursor, name="quizzes_poll_answers", sql=_ANSWERS_SQL, types=("bigint",),
                         params=[attempt_id])
        rows = cursor.fetchall()
    state, deadline, submitted_at, auto = row
    answers = []
    for slot_id, version, saved_at, value in rows:
        entry = {"slot": slot_id, "version": version, "saved_at": _aware(saved_at).isoformat()}  # type: ignore[union-attr]
        if slot_id in values_for:
            entry["value"] = json.loads(value) if isinstance(value, str) else value
        answers.append(entry)
    submitted = _aware(submitted_at)
    return {
        "state": state, "deadline": _aware(deadline).isoformat(),  # type: ignore[union-attr]
        "server_now": (now or timezone.now()).isoformat(),
        "submitted_at": submitted.isoformat() if submitted else None, "auto_submitted": bool(auto),
        "answers": answers,
    }


def parse_slot_list(text: str) -> frozenset[int]:
    """`?values=3,5,8` as slot ids; anything else in the list is a ValueError saying what to send."""
    if not text:
        return frozenset()
    parts = text.split(",")
    if len(parts) > 500 or not all(p.strip().isdigit() and len(p.strip()) < 12 for p in parts):
        raise ValueError("Send values as a comma-separated list of slot ids, e.g. ?values=3,5.")
    return frozenset(int(p) for p in parts)
