"""Grades back to the platform through AGS: line items, diffs, idempotence, retries, records."""

from decimal import Decimal

import pytest

from courseapp.models import User
from grading import demo as grading_demo
from grading.models import GradeItem
from grading.services import grade_set, item_release
from lti import calculations, passback, roster, tasks
from lti.models import LineItem, PostStatus, ScorePost


@pytest.fixture
def gradebook(course):
    grading_demo.load(course=course)
    return course


@pytest.fixture
def linked(context, roster_on_platform, gradebook, instructor):
    """Roster synced (every student but the leaver has a platform id) and Quiz 1 chosen for passback."""
    assert roster.roster_sync_apply(context=context, by=instructor).status == "applied"
    quiz1 = GradeItem.objects.get(course=gradebook, name="Quiz 1")
    passback.line_items_choose(context=context, grade_item_ids=[quiz1.pk], by=instructor)
    return context


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """committed(f, ...) runs f and then its on-commit callbacks (the test's transaction never commits)."""

    def run(f, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return f(*args, **kwargs)

    return run


def _url(course, context) -> str:
    return f"/courses/{course.code}/lti/contexts/{context.pk}/grades/"


def test_send_now_creates_the_columns_and_posts_every_released_score(linked, course, instructor, client_for, fake, committed):
    response = committed(client_for(instructor).post, _url(course, linked), {"send": "1"})
    assert response.status_code == 302
    assert {i["tag"] for i in fake.line_items} == {"ceng501-total", f"ceng501-item-{GradeItem.objects.get(name='Quiz 1').pk}"}
    total = next(i for i in fake.line_items if i["tag"] == "ceng501-total")
    assert total["scoreMaximum"] == 100
    quiz_url = LineItem.objects.get(grade_item__name="Quiz 1").url
    quiz_posts = [s for s in fake.scores if quiz_url.endswith(s["lineitem"])]
    assert len(quiz_posts) == 39  # the demo's 40 students have Quiz 1 grades; the leaver is dropped
    student = User.objects.get(lti_identities__sub=quiz_posts[0]["userId"])
    expected = GradeItem.objects.get(name="Quiz 1").grades.get(student=student).points
    assert Decimal(str(quiz_posts[0]["scoreGiven"])) == expected and quiz_posts[0]["scoreMaximum"] == 10
    assert quiz_posts[0]["activityProgress"] == "Completed" and quiz_posts[0]["gradingProgress"] == "FullyGraded"
    assert ScorePost.objects.filter(status=PostStatus.SENT).count() == len(fake.scores) == 79
    assert any("lti-ags/scope/score" in t["scope"] for t in fake.token_requests)


def test_sending_again_posts_nothing_and_a_changed_grade_posts_once(linked, course, instructor, fake, committed):
    committed(passback.passback_queue, context=linked)
    sent = len(fake.scores)
    assert committed(passback.passback_queue, context=linked).queued == []
    assert len(fake.scores) == sent  # idempotent
    quiz1 = GradeItem.objects.get(name="Quiz 1")
    student = User.objects.get(lti_identities__sub=fake.members[5].sub)
    grade_set(item=quiz1, student=student, points=Decimal("9.5"), by=instructor, reason="regrade")
    result = committed(passback.passback_queue, context=linked)
    # the item and the course total changed for this student; nobody else's
    assert len(result.queued) == 2
    posted = [s for s in fake.scores[sent:]]
    assert {s["userId"] for s in posted} == {fake.members[5].sub}
    assert any(s["scoreGiven"] == 9.5 for s in posted)


def test_released_items_only_and_release_is_picked_up_by_the_periodic_task(linked, course, instructor, fake, committed):
    quiz4 = GradeItem.objects.get(name="Quiz 4")
    with pytest.raises(ValueError, match="Release these items first"):
        item_release(item=quiz4, released=False, by=instructor)
        passback.line_items_choose(context=linked, grade_item_ids=[quiz4.pk], by=instructor)
    quiz1 = GradeItem.objects.get(name="Quiz 1")
    assert committed(tasks.passback_sync) == 79
    item_release(item=quiz1, released=False, by=instructor)
    student = User.objects.get(lti_identities__sub=fake.members[3].sub)
    grade_set(item=quiz1, student=student, points=Decimal("1"), by=instructor, reason="hidden change")
    before = len(fake.scores)
    committed(tasks.passback_sync)
    assert not any(s["scoreGiven"] == 1 and s["scoreMaximum"] == 10 for s in fake.scores[before:])
    item_release(item=quiz1, released=True, by=instructor)
    committed(tasks.passback_sync)
    assert any(s["scoreGiven"] == 1 and s["scoreMaximum"] == 10 for s in fake.scores)


def test_transient_failures_are_retried_with_backoff_and_recorded(linked, fake, committed):
    fake.score_failures = [503, 429]
    committed(passback.passback_queue, context=linked)
    retried = ScorePost.objects.order_by("id").first()
    assert retried.status == PostStatus.SENT and retried.attempts == 3 and retried.http_status == 200
    assert ScorePost.objects.exclude(status=PostStatus.SENT).count() == 0
    assert fake.score_requests == 79 + 2


def test_a_platform_that_stays_down_ends_in_a_failure_the_instructor_sees(linked, fake, course, instructor,
                                                                        client_for, committed):
    fake.score_failures = [503] * (tasks.SEND_MAX_RETRIES + 1)
    committed(passback.passback_queue, context=linked)
    failed = ScorePost.objects.get(status=PostStatus.FAILED)
    assert failed.attempts == tasks.SEND_MAX_RETRIES + 1 and failed.http_status == 503
    assert "answer 503" in failed.response
    page = client_for(instructor).get(_url(course, linked)).content.decode()
    assert 'id="passback-failures"' in page and "HTTP 503" in page
    assert "1 failed" in client_for(instructor).get(f"/courses/{course.code}/lti/").content.decode()
    posts = client_for(instructor).get(_url(course, linked) + f"{failed.line_item_id}/").content.decode()
    assert "failed" in posts and "answer 503" in posts
    # the next sync queues the failed score again
    again = committed(passback.passback_queue, context=linked)
    assert len(again.queued) == 1 and ScorePost.objects.get(pk=again.queued[0]).status == PostStatus.SENT


def test_a_refused_score_is_not_retried(linked, fake, committed):
    fake.score_failures = [400]
    committed(passback.passback_queue, context=linked)
    failed = ScorePost.objects.get(status=PostStatus.FAILED)
    assert failed.attempts == 1 and failed.http_status == 400


def test_sending_a_post_twice_is_a_no_op(linked, fake, committed):
    committed(passback.passback_queue, context=linked)
    post = ScorePost.objects.first()
    count = len(fake.scores)
    tasks.send_score.delay(post.pk)
    assert passback.score_send(post_id=post.pk).status == PostStatus.SENT
    assert len(fake.scores) == count


def test_students_without_a_platform_id_are_counted_not_posted(context, gradebook, instructor, fake, committed):
    result = committed(passback.passback_queue, context=context)
    assert result.queued == [] and result.without_account == 40
    assert [i["tag"] for i in fake.line_items] == ["ceng501-total"]  # the first send made the total's column


def test_only_the_instructor_sees_and_changes_passback(linked, course, ta, student, client_for):
    for user in (ta, student):
        client = client_for(user)
        assert client.get(_url(course, linked)).status_code == 403
        assert client.post(_url(course, linked), {"send": "1"}).status_code == 403
    assert not ScorePost.objects.exists()


def test_scores_to_send_compares_values_not_spellings():
    now = {(1, 1): Decimal("8.5"), (1, 2): Decimal("7"), (2, 1): Decimal("70.25")}
    last = {(1, 1): Decimal("8.50"), (1, 2): Decimal("6")}
    assert calculations.scores_to_send(now, last) == [(1, 2), (2, 1)]
    assert calculations.scores_to_send({}, last) == []


def test_retry_countdown_doubles_up_to_an_hour():
    assert [calculations.retry_countdown(n) for n in range(8)] == [30, 60, 120, 240, 480, 960, 1920, 3600]


def test_an_expired_token_is_replaced_and_the_score_still_goes(linked, fake, committed, instructor):
    committed(passback.passback_queue, context=linked)  # a token is cached now
    tokens = len(fake.token_requests)
    quiz1 = GradeItem.objects.get(name="Quiz 1")
    student = User.objects.get(lti_identities__sub=fake.members[4].sub)
    grade_set(item=quiz1, student=student, points=Decimal("2"), by=instructor, reason="test")
    fake.score_failures = [401]
    committed(passback.passback_queue, context=linked)
    assert ScorePost.objects.filter(status=PostStatus.FAILED).count() == 0
    retried = ScorePost.objects.filter(attempts=2).get()
    assert retried.status == PostStatus.SENT
    assert len(fake.token_requests) == tokens + 1


def test_in_a_worker_a_transient_failure_is_retried_later_and_the_last_try_records_failure(
        linked, fake, instructor, committed, monkeypatch):
    from celery.exceptions import Retry

    committed(passback.passback_queue, context=linked)
    quiz1 = GradeItem.objects.get(name="Quiz 1")
    student = User.objects.get(lti_identities__sub=fake.members[6].sub)
    grade_set(item=quiz1, student=student, points=Decimal("3"), by=instructor, reason="test")
    passback.passback_queue(context=linked)  # not committed: the posts stay pending, no task ran
    post = ScorePost.objects.get(status=PostStatus.PENDING, line_item__grade_item=quiz1)
    countdowns = []

    def retry(*, exc, countdown):
        countdowns.append(countdown)
        return Retry(exc=exc, when=countdown)

    monkeypatch.setattr(tasks.send_score, "retry", retry)
    fake.score_failures = [503, 503]
    for retries in (2, tasks.SEND_MAX_RETRIES):
        tasks.send_score.push_request(is_eager=False, retries=retries)
        try:
            if retries < tasks.SEND_MAX_RETRIES:
                with pytest.raises(Retry):
                    tasks.send_score.run(post.pk)
            else:
                assert tasks.send_score.run(post.pk) == PostStatus.FAILED
        finally:
            tasks.send_score.pop_request()
    assert countdowns == [120]  # the third try waits 2 minutes; the last one is not retried
    post.refresh_from_db()
    assert post.status == PostStatus.FAILED and post.attempts == 2 and post.http_status == 503
