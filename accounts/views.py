from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_http_methods

from accounts.forms import LoginForm, ProfileForm, SignUpForm
from accounts.services import audit_record, user_register, user_update_profile
from klineo.exceptions import ApplicationError, error_body


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
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, "Welcome to KLINEO. Connect a Binance account to start.")
            return redirect("exchanges:dashboard")
    return render(request, "accounts/signup.html", {"form": form})


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def form_valid(self, form):
        response = super().form_valid(form)
        audit_record(user=form.get_user(), action="auth.login", request=self.request, via="web")
        return response

    def form_invalid(self, form):
        audit_record(
            user=None,
            action="auth.login_failed",
            request=self.request,
            email=(self.request.POST.get("username") or "")[:254],
            via="web",
        )
        return super().form_invalid(form)


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


def lockout_response(request, credentials=None, *args, **kwargs) -> HttpResponse:
    """django-axes lockout: JSON for the API, a page for browsers. Status 429 either way."""
    message = "Too many failed login attempts. Try again in 15 minutes or reset your password."
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("locked_out", message), status=429)
    return render(request, "accounts/locked_out.html", {"message": message}, status=429)
