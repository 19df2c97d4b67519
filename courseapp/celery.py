"""The Celery application shared by the web process, the workers and beat.

Configuration lives in Django settings under the CELERY_ namespace
(https://docs.celeryq.dev/en/stable/django/first-steps-with-django.html).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "courseapp.settings")

app = Celery("courseapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
