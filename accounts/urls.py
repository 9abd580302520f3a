from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("login/2fa/", views.login_two_factor, name="login_2fa"),
    path("profile/", views.profile, name="profile"),
    path("reauth/", views.reauth, name="reauth"),
    path("security/", views.security, name="security"),
    path("security/2fa/", views.two_factor_setup, name="two_factor_setup"),
    path("security/2fa/disable/", views.two_factor_disable_view, name="two_factor_disable"),
    path("security/2fa/recovery-codes/", views.recovery_codes_view, name="recovery_codes"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/new/", views.token_new, name="token_new"),
    path("tokens/<int:pk>/revoke/", views.token_revoke, name="token_revoke"),
    path("sessions/", views.sessions, name="sessions"),
    path("sessions/<int:pk>/logout/", views.session_logout_view, name="session_logout"),
    path("sessions/logout-others/", views.sessions_logout_others, name="sessions_logout_others"),
    path("audit/", views.audit, name="audit"),
    path("delete/", views.account_delete_view, name="delete"),
    path("password/change/", views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "password/reset/",
        auth_views.PasswordResetView.as_view(
            template_name="accounts/password_reset.html",
            email_template_name="accounts/password_reset_email.txt",
            subject_template_name="accounts/password_reset_subject.txt",
            success_url=reverse_lazy("accounts:password_reset_done"),
        ),
        name="password_reset",
    ),
    path(
        "password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="accounts/password_reset_done.html"),
        name="password_reset_done",
    ),
    path(
        "password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="accounts/password_reset_confirm.html",
            success_url=reverse_lazy("accounts:password_reset_complete"),
        ),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name="accounts/password_reset_complete.html"
        ),
        name="password_reset_complete",
    ),
]
