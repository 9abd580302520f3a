"""Background work for accounts: e-mail goes out from the worker, never from a request."""

from celery import shared_task
from django.core.mail import send_mail


@shared_task(
    name="accounts.send_email",
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=5,
    time_limit=60,
    soft_time_limit=50,
)
def send_email(*, to: str, subject: str, body: str) -> None:
    """Send a plain-text e-mail. Retried with backoff when the mail server is unreachable."""
    send_mail(subject=subject, message=body, from_email=None, recipient_list=[to])
