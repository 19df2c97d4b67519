"""A real browser: the platform's course page embeds the tool; cookies in the frame are third-party."""

from urllib.parse import urlencode

import pytest

from lti.models import Identity

from .platform import CLIENT_ID, DEPLOYMENT_ID, ISSUER


@pytest.mark.browser
def test_blocked_frame_cookies_offer_a_new_window_that_signs_the_student_in(
        page, live_server, registered, fake, people, course):
    # The platform is 127.0.0.1, the tool localhost: two sites, so the frame is third-party.
    registered.auth_login_url = fake.url("/auth")
    registered.save()
    person = people["newcomer"]
    fake.people[person.sub] = person
    fake.tool_login_url = f"{live_server.url}/lti/login/?" + urlencode({
        "iss": ISSUER, "login_hint": person.sub, "client_id": CLIENT_ID, "lti_deployment_id": DEPLOYMENT_ID,
        "target_link_uri": f"{live_server.url}/courses/{course.code}/schedule/",
    })
    page.goto(fake.url("/course"))
    frame = page.frame_locator("#tool")
    link = frame.locator("#lti1p3-new-tab-link")
    link.wait_for()
    assert "blocks cookies inside this frame" in frame.locator("#lti1p3-warning-msg").inner_text()
    with page.context.expect_page() as opened:
        link.click()
    tab = opened.value
    tab.wait_for_url(f"{live_server.url}/courses/{course.code}/**")
    assert "Schedule" in tab.content() or course.number in tab.content()
    assert Identity.objects.filter(sub=person.sub).exists()
