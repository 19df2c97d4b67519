"""Grades back to the platform (LTI Assignment and Grade Services).

How grade changes reach the platform: a diff, not a hook. `passback_queue` compares
what the gradebook says now (released items and the course total, through grading's
selectors) with what was last posted for each (line item, student), and queues a
ScorePost for each difference. Celery beat runs it every few minutes and the
instructor's "Send now" button runs it at once; the gradebook code is not touched,
so no release, import, regrade or autograder path can forget to notify us.

`score_send` posts one score (idempotent: a post already sent or superseded is left
alone, and the platform keeps the newest `timestamp`); the task retries transient
failures (network, 429, 5xx) with exponential backoff and records every answer.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal

import requests
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from pylti1p3.assignments_grades import AssignmentsGradesService
from pylti1p3.exception import LtiException, LtiServiceException
from pylti1p3.grade import Grade as LtiGrade
from pylti1p3.lineitem import LineItem as LtiLineItem
from pylti1p3.lineitem import TLineItem

from courseapp.models import User
from grading import calculations as grading_calc
from grading.models import Grade, GradeItem, GradeState
from grading.selectors import gradebook_frame

from . import calculations, platform_http
from .models import Context, Identity, LineItem, PostStatus, ScorePost

logger = logging.getLogger(__name__)
TOTAL_TAG = "ceng501-total"
RESPONSE_LIMIT = 2000


class TransientPostError(Exception):
    """The platform did not answer or answered 429/5xx: worth retrying later."""


def _ags(context: Context) -> AssignmentsGradesService:
    if not (context.ags_claim or {}).get("lineitems"):
        raise LtiException(
            "The platform has not offered grade passback for this course. In Moodle, edit the tool and set "
            "\"IMS LTI Assignment and Grade Services\" to \"Use this service for grade sync and column management\"."
        )
    return AssignmentsGradesService(platform_http.connector(context.platform), context.ags_claim)


def line_items_choose(*, context: Context, grade_item_ids: list[int], by: User) -> list[LineItem]:
    """Pass back the course total and exactly these released items of the context's course.

    Unreleased or foreign items are refused with ValueError naming them. Items no
    longer chosen are disabled (their history stays). Platform columns are made by
    the next sync. Caller checked that `by` is the course's instructor.
    """
    items = {i.pk: i for i in GradeItem.objects.filter(course=context.course, pk__in=grade_item_ids)}
    unknown = sorted(set(grade_item_ids) - set(items))
    if unknown:
        raise ValueError(f"Items {unknown} are not items of {context.course.code}.")
    unreleased = [i.name for i in items.values() if not i.released]
    if unreleased:
        raise ValueError(f"Release these items first, then choose them: {', '.join(unreleased)}.")
    with transaction.atomic():
        LineItem.objects.get_or_create(
            context=context, grade_item=None,
            defaults={"label": f"{context.course.number} total (%)", "score_maximum": Decimal("100")},
        )
        LineItem.objects.filter(context=context, enabled=True).exclude(grade_item=None).exclude(
            grade_item_id__in=list(items)).update(enabled=False)
        for item in items.values():
            line, created = LineItem.objects.get_or_create(
                context=context, grade_item=item,
                defaults={"label": item.name, "score_maximum": item.points_possible},
            )
            if not created and (not line.enabled or line.score_maximum != item.points_possible):
                line.enabled, line.score_maximum = True, item.points_possible
                line.save(update_fields=["enabled", "score_maximum"])
    logger.info("lti passback items of %s set by %s: total + %s", context.course.code, by.username, sorted(items))
    return list(LineItem.objects.filter(context=context, enabled=True))


def line_item_publish(*, line: LineItem) -> LineItem:
    """Find or create the platform's column for `line` (by tag); remember its URL or the refusal."""
    if line.url:
        return line
    tag = TOTAL_TAG if line.grade_item_id is None else f"ceng501-item-{line.grade_item_id}"
    wanted = LtiLineItem().set_tag(tag).set_label(line.label).set_score_maximum(float(line.score_maximum))
    wanted.set_resource_id(tag)
    try:
        found = _ags(line.context).find_or_create_lineitem(wanted, find_by="tag")
    except LtiServiceException as exc:
        line.last_error = f"{exc.response.status_code}: {exc.response.text[:RESPONSE_LIMIT]}"
        line.save(update_fields=["last_error"])
        if exc.response.status_code == 429 or exc.response.status_code >= 500:
            raise TransientPostError(line.last_error) from exc
        raise
    except requests.RequestException as exc:
        line.last_error = f"platform unreachable: {exc}"[:RESPONSE_LIMIT]
        line.save(update_fields=["last_error"])
        raise TransientPostError(line.last_error) from exc
    except LtiException as exc:
        line.last_error = str(exc)[:RESPONSE_LIMIT]
        line.save(update_fields=["last_error"])
        raise
    line.url, line.last_error = found.get_id() or "", ""
    line.save(update_fields=["url", "last_error"])
    return line


def scores_now(*, context: Context) -> dict[tuple[int, int], Decimal]:
    """What the platform should show now, per (line item id, student id): points (items)
    or percent (total). Released items only; the total is the final total students see
    (missing work past due counts 0). No entry: nothing to post (missing, excused, no score)."""
    lines = list(LineItem.objects.filter(context=context, enabled=True))
    if not lines:
        return {}
    out: dict[tuple[int, int], Decimal] = {}
    total = next((line for line in lines if line.grade_item_id is None), None)
    if total is not None:
        frame = gradebook_frame(course=context.course, released_only=True)
        totals = frame.compute().total_percent(grading_calc.FINAL)
        for student_id, value in totals.items():
            if value is not None:
                out[(total.pk, int(student_id))] = Decimal(value)
    by_item = {line.grade_item_id: line.pk for line in lines if line.grade_item_id is not None}
    grades = Grade.objects.filter(
        item_id__in=list(by_item), item__released=True, state=GradeState.GRADED, points__isnull=False,
        student__memberships__course=context.course, student__memberships__is_active=True,
    ).values_list("item_id", "student_id", "points")
    for item_id, student_id, points in grades:
        assert points is not None  # the query keeps graded rows with points only
        out[(by_item[item_id], student_id)] = points
    return out


def last_posted(*, context: Context) -> dict[tuple[int, int], Decimal]:
    """The value last queued or sent per (line item, student); failed posts do not count,
    so a value that failed is queued again by the next sync."""
    rows = ScorePost.objects.filter(
        line_item__context=context, status__in=[PostStatus.PENDING, PostStatus.SENT]
    ).order_by("line_item_id", "student_id", "-created_at", "-id").values_list(
        "line_item_id", "student_id", "score_given")
    out: dict[tuple[int, int], Decimal] = {}
    for line_id, student_id, value in rows:
        out.setdefault((line_id, student_id), value)
    return out


@dataclass(frozen=True)
class QueueResult:
    queued: list[int]  # ScorePost ids
    without_account: int  # scores of students with no platform id (never launched, not synced)
    unpublished: list[str]  # line items the platform refused to create


def passback_queue(*, context: Context) -> QueueResult:
    """Queue a post for every score that differs from what was last posted; send them after commit.

    A context that has never passed anything back gets its course-total column first.
    """
    from . import tasks

    if not LineItem.objects.filter(context=context).exists():  # first send: the course total's column
        LineItem.objects.get_or_create(
            context=context, grade_item=None,
            defaults={"label": f"{context.course.number} total (%)", "score_maximum": Decimal("100")},
        )
    unpublished = []
    for line in LineItem.objects.filter(context=context, enabled=True, url=""):
        try:
            line_item_publish(line=line)
        except (LtiException, TransientPostError) as exc:
            unpublished.append(f"{line.label}: {exc}"[:300])
    lines = {line.pk: line for line in LineItem.objects.filter(context=context, enabled=True).exclude(url="")}
    now_values = {k: v for k, v in scores_now(context=context).items() if k[0] in lines}
    changed = calculations.scores_to_send(now_values, last_posted(context=context))
    subs = dict(Identity.objects.filter(platform=context.platform).values_list("user_id", "sub"))
    queued, without = [], 0
    with transaction.atomic():
        for line_id, student_id in changed:
            if student_id not in subs:
                without += 1
                continue
            ScorePost.objects.filter(line_item_id=line_id, student_id=student_id,
                                     status=PostStatus.PENDING).update(status=PostStatus.SUPERSEDED)
            post = ScorePost.objects.create(
                line_item_id=line_id, student_id=student_id, sub=subs[student_id],
                score_given=now_values[(line_id, student_id)], score_maximum=lines[line_id].score_maximum,
            )
            queued.append(post.pk)
        transaction.on_commit(lambda: [tasks.send_score.delay(pk) for pk in queued])
    if queued or unpublished:
        logger.info("lti passback %s: %d queued, %d without platform id, %d items unpublished",
                    context.course.code, len(queued), without, len(unpublished))
    return QueueResult(queued=queued, without_account=without, unpublished=unpublished)


def _record(post: ScorePost, *, status: str, http_status: int | None, response: str) -> None:
    post.status, post.http_status, post.response = status, http_status, response[:RESPONSE_LIMIT]
    post.sent_at = timezone.now()
    post.save(update_fields=["status", "http_status", "response", "sent_at", "attempts"])


def score_send(*, post_id: int, final_attempt: bool = False) -> ScorePost:
    """Post one queued score. Idempotent: a post no longer pending is returned unchanged.

    Raises TransientPostError (recorded, still pending) when the platform did not answer
    or answered 429/5xx, unless `final_attempt`, which records it failed. A 4xx answer
    is recorded as failed at once: retrying the same request cannot succeed.
    """
    with transaction.atomic():
        post = ScorePost.objects.select_for_update().select_related(
            "line_item__context__platform").get(pk=post_id)
        if post.status != PostStatus.PENDING:
            return post
        newer = ScorePost.objects.filter(line_item=post.line_item, student=post.student,
                                         created_at__gt=post.created_at).filter(
            Q(status=PostStatus.PENDING) | Q(status=PostStatus.SENT)).exists()
        if newer:
            post.status = PostStatus.SUPERSEDED
            post.save(update_fields=["status"])
            return post
        post.attempts += 1
        post.save(update_fields=["attempts"])
    line = post.line_item
    grade = (LtiGrade().set_score_given(float(post.score_given)).set_score_maximum(float(post.score_maximum))
             .set_timestamp(post.created_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"))
             .set_activity_progress("Completed").set_grading_progress("FullyGraded").set_user_id(post.sub))
    try:
        line_data: TLineItem = {
            "id": line.url,
            # AGS's scoreMaximum is any positive number; PyLTI1p3's TLineItem declares it int
            "scoreMaximum": float(post.score_maximum),  # type: ignore[typeddict-item]
            "label": line.label,
        }
        lti_line = LtiLineItem(line_data)
        answer = _ags(line.context).put_grade(grade, lti_line)
    except LtiServiceException as exc:
        code = exc.response.status_code
        transient = code in (401, 429) or code >= 500  # 401: our cached token expired early; a new one may do
        if code == 401:
            platform_http.connector(line.context.platform).forget_token(line.context.ags_claim.get("scope", []))
        status = PostStatus.PENDING if transient and not final_attempt else PostStatus.FAILED
        _record(post, status=status, http_status=code, response=exc.response.text or "")
        logger.warning("lti score post %s to %s: HTTP %s", post.pk, line.url, code)
        if status == PostStatus.PENDING:
            raise TransientPostError(f"HTTP {code}") from exc
        return post
    except requests.RequestException as exc:
        status = PostStatus.FAILED if final_attempt else PostStatus.PENDING
        _record(post, status=status, http_status=None, response=f"platform unreachable: {exc}")
        if status == PostStatus.PENDING:
            raise TransientPostError(str(exc)) from exc
        return post
    except LtiException as exc:
        _record(post, status=PostStatus.FAILED, http_status=None, response=str(exc))
        return post
    body = answer.get("body")
    _record(post, status=PostStatus.SENT, http_status=200, response="" if body is None else str(body))
    return post


def sync_contexts() -> list[int]:
    """Contexts with something to pass back: the periodic task queues each."""
    return list(LineItem.objects.filter(enabled=True).values_list("context_id", flat=True).distinct())
