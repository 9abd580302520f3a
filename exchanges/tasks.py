"""Background work of the exchanges app: thin tasks that load by id and call one service.

Order reconciliation is idempotent (it only ever queries the exchange and moves a row forward
under a per-order lock), so it runs with acks_late: a worker killed mid-task leaves the message
to be redelivered, and the beat sweep picks up anything still unresolved.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

logger = logging.getLogger(__name__)


def _backoff(retries: int) -> float:
    return min(
        settings.ORDER_RECONCILE_BACKOFF * (2 ** min(retries, 16)),
        settings.ORDER_RECONCILE_BACKOFF_MAX,
    )


@shared_task(
    bind=True,
    name="exchanges.tasks.order_reconcile",
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=45,
    soft_time_limit=40,
    max_retries=None,
)
def order_reconcile(self, order_id: int) -> str:
    """Query an UNKNOWN / PENDING order by its client order id until its outcome is known."""
    from exchanges.services.orders import order_reconcile as reconcile

    outcome = reconcile(order_id=order_id)
    if outcome.done:
        return outcome.status or outcome.detail
    if self.request.retries >= settings.ORDER_RECONCILE_MAX_RETRIES:
        logger.warning("order %s still unresolved (%s); left to the sweep", order_id, outcome)
        return "gave up; the sweep will retry"
    raise self.retry(countdown=_backoff(self.request.retries))


@shared_task(
    name="exchanges.tasks.orders_reconcile_sweep",
    time_limit=60,
    soft_time_limit=50,
)
def orders_reconcile_sweep(older_than_seconds: float | None = None) -> int:
    """Beat: queue reconciliation of every PENDING / UNKNOWN order left untouched too long
    (a lost task, a worker killed mid-reconciliation, a web process that died before sending)."""
    from exchanges.services.orders import orders_needing_reconcile

    age = settings.ORDER_SWEEP_AGE_SECONDS if older_than_seconds is None else older_than_seconds
    ids = orders_needing_reconcile(older_than_seconds=age)
    for order_id in ids:
        order_reconcile.delay(order_id)
    return len(ids)
