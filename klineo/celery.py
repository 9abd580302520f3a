"""Celery application: Redis broker, JSON only, time limits from settings (CELERY_*)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "klineo.settings")

app = Celery("klineo")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(related_name="stream_tasks")
