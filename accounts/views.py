import base64
import time
from datetime import timedelta

import qrcode
import qrcode.image.svg
from axes.handlers.proxy import AxesProxyHandler
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login

from accounts.forms import (
    AccountDeleteForm,
    ApiTokenForm,
    AuditFilterForm,
    LoginCodeForm,
    LoginForm,
    ProfileForm,
    ReauthForm,
    SignUpForm,
    TwoFactorConfirmForm,
    TwoFactorDisableForm,
)
from accounts.models import User
from accounts.reauth import (
    REAUTH_MAX_AGE,
    reauth_age,
    reauth_mark_session,
    reauth_verify,
    require_recent_auth,
)
from accounts.selectors import (
    AUDIT_CATEGORIES,
    api_tokens_for_user,
    audit_events_visible_to,
    sessions_for_user,
)
from accounts.services import (
    audit_record,
    login_record_failure,
    login_record_success,
    user_register,
    user_update_profile,
)
from accounts.services.deletion import account_delete
from accounts.services.sessions import session_logout, sessions_logout_all
from accounts.services.tokens import api_token_create, api_token_revoke
from accounts.services.two_factor import (
    recovery_codes_regenerate,
    recovery_codes_remaining,
    second_factor_check,
    totp_device_get,
    totp_enrolment_confirm,
    totp_enrolment_start,
    two_factor_disable,
    two_factor_enabled,
)
from klineo.exceptions import ApplicationError, NotFoundError, error_body

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
PENDING_USER = "klineo_2fa_pending_user"
PENDING_AT = "klineo_2fa_pending_at"
PENDING_NEXT = "klineo_2fa_pending_next"
# The second login step must follow the password step within this many seconds.
PENDING_MAX_AGE = 300


def _add_errors(form, exc: ApplicationError, default_field: str | None = None) -> None:
    if exc.fields:
        for field, errors in exc.fields.items():
            for error in errors:
                form.add_error(field if field in form.fields else default_field, error)
    else:
        form.add_error(default_field, exc.message)


def _safe_next(request, fallback: str) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return fallback


def _no_store(response: HttpResponse) -> HttpResponse:
    """Pages that show a secret once must not be kept by the browser or a proxy."""
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "POST"])
def signup(request):
    if request.user.is_authenticated:
        return redirect("exchanges:dashboard")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = user_register(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password1"],
                display_name=form.cleaned_data["display_name"],
                request=request,
            )
        except ApplicationError as exc:
            for field, errors in (exc.fields or {}).items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            login(request, user, backend=MODEL_BACKEND)
            messages.success(request, "Welcome to KLINEO. Connect a Binance account to start.")
            return redirect("exchanges:dashboard")
    return render(request, "accounts/signup.html", {"form": form})


class LoginView(auth_views.LoginView):
    """Step one: e-mail and password. With 2FA on, the user is not logged in yet: the second
    step (login_two_factor) asks for the code within PENDING_MAX_AGE seconds."""

    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def form_valid(self, form):
        user = form.get_user()
        if two_factor_enabled(user=user):
            self.request.session.cycle_key()
            self.request.session[PENDING_USER] = user.pk
            self.request.session[PENDING_AT] = time.time()
            self.request.session[PENDING_NEXT] = self.get_redirect_url()
            return redirect("accounts:login_2fa")
        response = super().form_valid(form)
        login_record_success(user=user, request=self.request, via="web")
        return response

    def form_invalid(self, form):
        login_record_failure(
            email=(self.request.POST.get("username") or "").strip(),
            request=self.request,
            via="web",
            reason="password",
        )
        return super().form_invalid(form)


def _pending_user(request) -> User | None:
    user_id, started = request.session.get(PENDING_USER), request.session.get(PENDING_AT)
    if user_id is None or started is None or time.time() - started > PENDING_MAX_AGE:
        return None
    return User.objects.filter(pk=user_id, is_active=True).first()


@never_cache
@require_http_methods(["GET", "POST"])
def login_two_factor(request):
    """Step two of a login with 2FA: the TOTP code or a one-time recovery code."""
    user = _pending_user(request)
    if user is None:
        messages.error(request, "Log in again: the sign-in took too long or was not started.")
        return redirect("accounts:login")
    form = LoginCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        credentials = {"username": user.email}
        if not AxesProxyHandler.is_allowed(request, credentials):
            return lockout_response(request)
        check = second_factor_check(user=user, code=form.cleaned_data["code"])
        if check.ok:
            next_url = request.session.get(PENDING_NEXT) or reverse("exchanges:dashboard")
            for key in (PENDING_USER, PENDING_AT, PENDING_NEXT):
                request.session.pop(key, None)
            login(request, user, backend=MODEL_BACKEND)
            device = totp_device_get(user=user)
            if device is not None:
                otp_login(request, device)
            login_record_success(user=user, request=request, via="web", second_factor=check.kind)
            if check.kind == "recovery":
                left = recovery_codes_remaining(user=user)
                messages.warning(
                    request,
                    f"You used a recovery code; {left} left. Generate new ones on the "
                    "Security page if you are running low.",
                )
            return redirect(_safe_next_value(request, next_url))
        login_record_failure(
            email=user.email, request=request, via="web", reason=f"otp_{check.kind}"
        )
        if check.kind == "throttled":
            form.add_error(
                "code", f"Too many wrong codes. Wait {check.retry_after} seconds and try again."
            )
        else:
            form.add_error("code", "That code is not valid.")
    return render(request, "accounts/login_2fa.html", {"form": form})


def _safe_next_value(request, candidate: str) -> str:
    if url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("exchanges:dashboard")


class LogoutView(auth_views.LogoutView):
    def post(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            audit_record(user=request.user, action="auth.logout", request=request)
        return super().post(request, *args, **kwargs)


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("accounts:profile")

    def form_valid(self, form):
        response = super().form_valid(form)
        audit_record(user=self.request.user, action="auth.password_changed", request=self.request)
        messages.success(self.request, "Your password has been changed.")
        return response


@login_required
@require_http_methods(["GET", "POST"])
def profile(request):
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        user_update_profile(user=request.user, display_name=form.cleaned_data["display_name"])
        messages.success(request, "Profile saved.")
        return redirect("accounts:profile")
    events = request.user.audit_events.all()[:10]
    return render(request, "accounts/profile.html", {"form": form, "events": events})


@login_required
def security(request):
    user = request.user
    age = reauth_age(request)
    context = {
        "two_factor": two_factor_enabled(user=user),
        "recovery_left": recovery_codes_remaining(user=user),
        "active_tokens": sum(1 for token in api_tokens_for_user(user=user) if token.is_active),
        "session_count": sessions_for_user(user=user).count(),
        "recent_events": audit_events_visible_to(viewer=user).filter(user=user)[:5],
        "reauth_left": int(REAUTH_MAX_AGE - age) if age is not None and age < REAUTH_MAX_AGE else 0,
        "disable_form": TwoFactorDisableForm(),
    }
    return render(request, "accounts/security.html", context)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def reauth(request):
    """Confirm the password (and 2FA code) before a risky action; valid REAUTH_MAX_AGE s."""
    next_url = _safe_next(request, reverse("accounts:security"))
    form = ReauthForm(request.POST or None, needs_code=two_factor_enabled(user=request.user))
    if request.method == "POST" and form.is_valid():
        try:
            reauth_verify(
                request,
                user=request.user,
                password=form.cleaned_data["password"],
                otp=form.cleaned_data.get("otp", ""),
            )
        except ApplicationError as exc:
            if exc.code == "locked_out":
                return lockout_response(request)
            _add_errors(form, exc)
        else:
            reauth_mark_session(request)
            return redirect(next_url)
    return render(
        request,
        "accounts/reauth.html",
        {"form": form, "next": next_url, "minutes": REAUTH_MAX_AGE // 60},
    )


def _qr_data_uri(text: str) -> str:
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=10)
    svg = image.to_string(encoding="unicode")
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def two_factor_setup(request):
    """Enrol an authenticator app: QR code + secret, then confirm a code. Needs re-auth."""
    if two_factor_enabled(user=request.user):
        messages.info(request, "Two-factor authentication is already on.")
        return redirect("accounts:security")
    require_recent_auth(request, action="2fa.enable")
    device = totp_enrolment_start(user=request.user)
    form = TwoFactorConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = totp_enrolment_confirm(
                user=request.user, code=form.cleaned_data["code"], request=request
            )
        except ApplicationError as exc:
            _add_errors(form, exc, "code")
        else:
            otp_login(request, device)
            messages.success(request, "Two-factor authentication is on.")
            return _no_store(
                render(request, "accounts/recovery_codes.html", {"codes": codes, "new": True})
            )
    secret = base64.b32encode(device.bin_key).decode()
    context = {
        "form": form,
        "qr": _qr_data_uri(device.config_url),
        "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
    }
    return _no_store(render(request, "accounts/two_factor_setup.html", context))


@login_required
@require_POST
def two_factor_disable_view(request):
    """Turn 2FA off. The form's password + code is itself the re-authentication."""
    form = TwoFactorDisableForm(request.POST)
    if form.is_valid():
        try:
            reauth_verify(
                request,
                user=request.user,
                password=form.cleaned_data["password"],
                otp=form.cleaned_data["otp"],
            )
        except ApplicationError as exc:
            if exc.code == "locked_out":
                return lockout_response(request)
            messages.error(request, f"Two-factor authentication is still on: {exc.message}")
        else:
            reauth_mark_session(request)
            two_factor_disable(user=request.user, request=request)
            messages.success(request, "Two-factor authentication is off.")
    else:
        messages.error(request, "Enter your password and a code to turn 2FA off.")
    return redirect("accounts:security")


@never_cache
@login_required
@require_POST
def recovery_codes_view(request):
    require_recent_auth(request, action="2fa.recovery_codes")
    try:
        codes = recovery_codes_regenerate(user=request.user, request=request)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("accounts:security")
    return _no_store(render(request, "accounts/recovery_codes.html", {"codes": codes}))


@login_required
def tokens(request):
    return render(
        request, "accounts/tokens.html", {"tokens": api_tokens_for_user(user=request.user)}
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def token_new(request):
    require_recent_auth(request, action="token.create")
    form = ApiTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        days = form.cleaned_data.get("expires_in_days")
        try:
            token, raw = api_token_create(
                user=request.user,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                expires_at=timezone.now() + timedelta(days=days) if days else None,
                allowed_networks=form.cleaned_data["allowed_networks"],
                request=request,
            )
        except ApplicationError as exc:
            _add_errors(form, exc)
        else:
            return _no_store(
                render(request, "accounts/token_created.html", {"token": token, "raw": raw})
            )
    return render(request, "accounts/token_new.html", {"form": form})


@login_required
@require_POST
def token_revoke(request, pk: int):
    try:
        token = api_token_revoke(user=request.user, token_id=pk, request=request)
    except NotFoundError as exc:
        raise Http404(exc.message) from exc
    messages.success(request, f'Token "{token.name}" revoked.')
    return redirect("accounts:tokens")


@login_required
def sessions(request):
    rows = sessions_for_user(user=request.user)
    return render(
        request,
        "accounts/sessions.html",
        {"sessions": rows, "current_key": request.session.session_key},
    )


@login_required
@require_POST
def session_logout_view(request, pk: int):
    try:
        session_logout(user=request.user, session_id=pk, request=request)
    except NotFoundError as exc:
        raise Http404(exc.message) from exc
    messages.success(request, "That session is logged out.")
    return redirect("accounts:sessions")


@login_required
@require_POST
def sessions_logout_others(request):
    count = sessions_logout_all(
        user=request.user, except_key=request.session.session_key, request=request
    )
    messages.success(request, f"Logged out {count} other session{'s' if count != 1 else ''}.")
    return redirect("accounts:sessions")


@login_required
def audit(request):
    staff = request.user.is_staff
    form = AuditFilterForm(request.GET or None, categories=AUDIT_CATEGORIES, staff=staff)
    filters = form.cleaned_data if form.is_valid() else {}
    events = audit_events_visible_to(
        viewer=request.user,
        category=filters.get("category") or "",
        since=filters.get("since"),
        until=filters.get("until"),
        user_email=filters.get("user_email") or "",
    )
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "accounts/audit.html",
        {"form": form, "page": page, "staff": staff, "query": query.urlencode()},
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def account_delete_view(request):
    require_recent_auth(request, action="account.delete")
    form = AccountDeleteForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            account_delete(user=request.user, request=request)
        except ApplicationError as exc:
            _add_errors(form, exc)
        else:
            logout(request)
            messages.success(request, "Your account was deleted.")
            return redirect("accounts:login")
    return render(request, "accounts/delete.html", {"form": form})


def lockout_response(request, credentials=None, *args, **kwargs) -> HttpResponse:
    """django-axes lockout: JSON for the API, a page for browsers. Status 429 either way."""
    message = "Too many failed login attempts. Try again in 15 minutes or reset your password."
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("locked_out", message), status=429)
    return render(request, "accounts/locked_out.html", {"message": message}, status=429)
