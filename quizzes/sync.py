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

from django.db.models import Exists, OuterRef
from django.http import Http404
from django.utils import timezone

from courseapp.models import Membership, User
from courseapp.tokens import key_digest

from .models import Attempt, Response


def answer_versions(*, student: User | None = None, token: str | None = None, code: str, attempt_id: int,
                    values_for: frozenset[int] = frozenset(), now: dt.datetime | None = None) -> dict:
    """The attempt's state and each saved answer's version and time; the values of the slots in `values_for`.

    The asker is `student` (authenticated already) or the owner of the API `token`
    (checked here, in the same query, by the key's digest: a token not revoked, its user active). Raises Http404
    when the attempt is not the asker's own in that course, or they are no longer
    an active member (staff included: they review attempts, they do not take them).
    """
    if student is not None:
        owner = {"student_id": student.id}
    elif token:
        # One join: the live (not revoked) token with this digest, of an active user (courseapp.tokens).
        owner = {"student__api_tokens__digest": key_digest(token), "student__api_tokens__revoked_at__isnull": True,
                 "student__is_active": True}
    else:
        raise Http404("No such attempt.")
    member = Membership.objects.filter(course_id=OuterRef("quiz__course_id"), user_id=OuterRef("student_id"),
                                       is_active=True)
    row = (
        Attempt.objects.filter(pk=attempt_id, quiz__course__code=code, **owner)
        .filter(Exists(member)).values_list("state", "deadline", "submitted_at", "auto_submitted").first()
    )
    if row is None:
        raise Http404("No such attempt.")
    state, deadline, submitted_at, auto = row
    answers = []
    fields = ("slot_id", "version", "saved_at", "value") if values_for else ("slot_id", "version", "saved_at")
    for item in Response.objects.filter(attempt_id=attempt_id).order_by("slot_id").values_list(*fields):
        entry = {"slot": item[0], "version": item[1], "saved_at": item[2].isoformat()}
        if values_for and item[0] in values_for:
            entry["value"] = item[3]
        answers.append(entry)
    return {
        "state": state, "deadline": deadline.isoformat(), "server_now": (now or timezone.now()).isoformat(),
        "submitted_at": submitted_at.isoformat() if submitted_at else None, "auto_submitted": auto,
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
