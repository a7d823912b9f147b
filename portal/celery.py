"""The Celery application. Tasks are thin: they take primary keys and call services."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("cloudstamp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
