"""Students created by roster import set their first password through "Forgot your password?"."""

import re

from django.core import mail
from django.test import Client

from courseapp import services
from courseapp.models import User

ROSTER = "student number,first name,last name,email\n2499201,Derya,Ak,derya.ak@metu.edu.tr\n"


def test_imported_student_sets_a_first_password_and_logs_in(course, instructor):
    services.roster_import_apply(course=course, csv_text=ROSTER, by=instructor)
    client = Client()
    assert "Forgot your password?" in client.get("/login/").content.decode()
    response = client.post("/password-reset/", {"email": "Derya.Ak@metu.edu.tr"})
    assert response.status_code == 302 and response["Location"] == "/password-reset/sent/"
    (message,) = mail.outbox
    assert message.to == ["derya.ak@metu.edu.tr"]
    assert "Your username is: e2499201" in message.body
    link = re.search(r"http://testserver(/password-reset/\S+/)", message.body).group(1)
    form_page = client.get(link, follow=True)
    assert "Your username is <strong>e2499201</strong>" in form_page.content.decode()
    response = client.post(form_page.redirect_chain[-1][0], {
        "new_password1": "a-long-Secret-42", "new_password2": "a-long-Secret-42"})
    assert response.status_code == 302 and response["Location"] == "/password-reset/complete/"
    assert User.objects.get(username="e2499201").check_password("a-long-Secret-42")
    assert client.post("/login/", {"username": "e2499201", "password": "a-long-Secret-42"}).status_code == 302


def test_unknown_email_sends_nothing_and_reveals_nothing(db):
    response = Client().post("/password-reset/", {"email": "nobody@metu.edu.tr"})
    assert response.status_code == 302 and response["Location"] == "/password-reset/sent/"
    assert mail.outbox == []


def test_a_used_link_is_refused_with_a_way_forward(course, student):
    client = Client()
    client.post("/password-reset/", {"email": student.email})
    link = re.search(r"http://testserver(/password-reset/\S+/)", mail.outbox[0].body).group(1)
    page = client.get(link, follow=True)
    client.post(page.redirect_chain[-1][0], {"new_password1": "x-Long-pass-77", "new_password2": "x-Long-pass-77"})
    again = Client().get(link, follow=True).content.decode()
    assert "This link has expired or was already used." in again
