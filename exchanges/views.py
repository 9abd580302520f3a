"""HTML pages of the exchanges app. Thin: validate -> service or selector -> render.

Connection pages share their business logic with the API (exchanges.services, selectors).
Another user's connection is a 404 (selectors take the owner).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from accounts.reauth import require_recent_auth
from exchanges.forms import ConnectionEditForm, ConnectionForm, DemoKeysForm
from exchanges.models import ExchangeConnection
from exchanges.selectors import connection_get, connection_list, connections_summary
from exchanges.services.balances import DUST_THRESHOLD_USDT, connection_balances
from exchanges.services.connection_test import connection_test_spot, keys_test_spot
from exchanges.services.connections import (
    connection_create,
    connection_create_demo,
    connection_delete,
    connection_update,
)
from exchanges.services.futures import (
    FUTURES_TEST_MAX_AGE,
    connection_disable_futures,
    connection_enable_futures,
    connection_test_futures,
    futures_test_is_recent,
)
from klineo.exceptions import ApplicationError, NotFoundError


@login_required
def dashboard(request):
    return render(
        request, "exchanges/dashboard.html", {"summary": connections_summary(user=request.user)}
    )


def _get(request, pk: int) -> ExchangeConnection:
    try:
        return connection_get(user=request.user, pk=pk)
    except NotFoundError as exc:
        raise Http404("No such connection.") from exc


def _copy_errors(form, exc: ApplicationError) -> None:
    if not exc.fields:
        form.add_error(None, exc.message)
        return
    for field, errors in exc.fields.items():
        for error in errors:
            form.add_error(field if field in form.fields else None, error)


def _detail_url(connection: ExchangeConnection, anchor: str = "") -> str:
    url = reverse("exchanges:connection_detail", args=[connection.pk])
    return f"{url}#{anchor}" if anchor else url


def _flash_report(request, connection: ExchangeConnection) -> None:
    report = connection.last_test_report or {}
    level = {"ok": messages.SUCCESS, "warning": messages.WARNING}.get(
        report.get("status"), messages.ERROR
    )
    messages.add_message(request, level, f"Connection test: {report.get('summary', '')}")


@login_required
def connection_list_page(request):
    return render(
        request,
        "exchanges/connections.html",
        {"connections": connection_list(user=request.user), "demo_form": DemoKeysForm()},
    )


@login_required
@require_http_methods(["GET", "POST"])
def connection_new(request):
    # Adding keys needs a fresh re-authentication; asking before the form is shown means nobody
    # types a secret into a form that will be refused.
    require_recent_auth(request, action="connection.add")
    form = ConnectionForm(request.POST or None)
    report = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if request.POST.get("action") == "test":
                # Without JavaScript: test, then show the report (the secret is not re-rendered).
                report = keys_test_spot(
                    user=request.user,
                    environment=data["environment"],
                    key_type=data["key_type"],
                    api_key=data["api_key"],
                    secret=data["secret"],
                    request=request,
                )
            else:
                connection = connection_create(
                    user=request.user,
                    label=data["label"],
                    environment=data["environment"],
                    key_type=data["key_type"],
                    api_key=data["api_key"],
                    secret=data["secret"],
                    request=request,
                )
                connection = connection_test_spot(
                    user=request.user, connection=connection, request=request
                )
                _flash_report(request, connection)
                return redirect(_detail_url(connection, "test"))
        except ApplicationError as exc:
            _copy_errors(form, exc)
    return render(
        request,
        "exchanges/connection_form.html",
        {"form": form, "report": report, "demo_form": DemoKeysForm()},
    )


@login_required
@require_POST
def connection_demo(request):
    form = DemoKeysForm(request.POST)
    key_type = form.cleaned_data.get("key_type") if form.is_valid() else None
    try:
        connection = connection_create_demo(
            user=request.user, key_type=key_type or "HMAC", request=request
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("exchanges:connections")
    connection = connection_test_spot(user=request.user, connection=connection, request=request)
    messages.success(
        request,
        f"Demo keys created on the sandbox exchange (key {connection.masked_key}) and tested.",
    )
    return redirect(_detail_url(connection))


@login_required
def connection_detail(request, pk: int):
    connection = _get(request, pk)
    show_dust = request.GET.get("dust") == "show"
    balances = balance_error = None
    try:
        balances = connection_balances(
            connection=connection, refresh=request.GET.get("refresh") == "1"
        )
    except ApplicationError as exc:
        balance_error = exc
    return render(
        request,
        "exchanges/connection_detail.html",
        {
            "connection": connection,
            "report": connection.last_test_report or None,
            "futures_report": connection.futures_test_report or None,
            "futures_enable_allowed": futures_test_is_recent(connection),
            "futures_test_max_hours": int(FUTURES_TEST_MAX_AGE.total_seconds() // 3600),
            "balances": balances,
            "balance_rows": balances.visible(hide_dust=not show_dust) if balances else [],
            "dust_count": balances.dust_count() if balances else 0,
            "show_dust": show_dust,
            "dust_threshold": DUST_THRESHOLD_USDT,
            "balance_error": balance_error,
        },
    )


@login_required
@require_POST
def connection_test(request, pk: int):
    connection = connection_test_spot(
        user=request.user, connection=_get(request, pk), request=request
    )
    _flash_report(request, connection)
    return redirect(_detail_url(connection, "test"))


@login_required
@require_http_methods(["GET", "POST"])
def connection_edit(request, pk: int):
    connection = _get(request, pk)
    require_recent_auth(request, action="connection.replace_keys")
    initial = {
        "label": connection.label,
        "environment": connection.environment,
        "key_type": connection.key_type,
    }
    form = ConnectionEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            connection = connection_update(
                user=request.user, connection=connection, request=request, **form.cleaned_data
            )
        except ApplicationError as exc:
            _copy_errors(form, exc)
        else:
            messages.success(request, f"'{connection.label}' saved.")
            return redirect(_detail_url(connection))
    return render(
        request, "exchanges/connection_edit.html", {"form": form, "connection": connection}
    )


@login_required
@require_http_methods(["GET", "POST"])
def connection_delete_page(request, pk: int):
    connection = _get(request, pk)
    if request.method == "POST":
        connection_delete(user=request.user, connection=connection, request=request)
        messages.success(
            request, f"'{connection.label}' was deleted and its keys erased. Its orders stay."
        )
        return redirect("exchanges:connections")
    return render(request, "exchanges/connection_delete.html", {"connection": connection})


@login_required
@require_POST
def futures_test(request, pk: int):
    connection = connection_test_futures(
        user=request.user, connection=_get(request, pk), request=request
    )
    report = connection.futures_test_report
    if report.get("ok"):
        messages.success(request, f"Futures test: {report['summary']}")
    else:
        messages.error(request, f"Futures test: {report.get('summary', '')}")
    return redirect(_detail_url(connection, "futures"))


@login_required
@require_http_methods(["GET", "POST"])
def futures_enable(request, pk: int):
    connection = _get(request, pk)
    if request.method == "GET":
        # Back from the re-authentication page: show the panel, the user confirms again.
        return redirect(_detail_url(connection, "futures"))
    require_recent_auth(request, action="futures.enable")
    try:
        connection = connection_enable_futures(
            user=request.user, connection=connection, request=request
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"USD-M futures are enabled on '{connection.label}'.")
    return redirect(_detail_url(connection, "futures"))


@login_required
@require_POST
def futures_disable(request, pk: int):
    connection = connection_disable_futures(
        user=request.user, connection=_get(request, pk), request=request
    )
    messages.success(request, f"Futures are off on '{connection.label}'.")
    return redirect(_detail_url(connection, "futures"))
