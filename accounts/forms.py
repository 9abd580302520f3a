from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm

from accounts.models import Scope, User


class SignUpForm(forms.Form):
    email = forms.EmailField(
        label="E-mail", widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )
    display_name = forms.CharField(label="Name (optional)", max_length=80, required=False)
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label="Repeat password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this e-mail address already exists.")
        return email

    def clean(self):
        cleaned = super().clean()
        p1, p2 = cleaned.get("password1"), cleaned.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", "The two passwords differ.")
        elif p1:
            try:
                password_validation.validate_password(p1, User(email=cleaned.get("email", "")))
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned


class LoginForm(AuthenticationForm):
    error_messages = {
        "invalid_login": "Wrong e-mail or password.",
        "inactive": "This account is disabled.",
    }


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["display_name"]
        labels = {"display_name": "Name"}


class LoginCodeForm(forms.Form):
    code = forms.CharField(
        label="Code from your authenticator app (or a recovery code)",
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autofocus": True, "inputmode": "text"}
        ),
    )


class ReauthForm(forms.Form):
    password = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )
    otp = forms.CharField(
        label="Code from your authenticator app (or a recovery code)",
        max_length=32,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code"}),
    )

    def __init__(self, *args, needs_code: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if needs_code:
            self.fields["otp"].required = True
        else:
            del self.fields["otp"]


class TwoFactorConfirmForm(forms.Form):
    code = forms.CharField(
        label="6-digit code shown by the app",
        max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class TwoFactorDisableForm(forms.Form):
    password = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    otp = forms.CharField(
        label="Code from your authenticator app (or a recovery code)",
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code"}),
    )


EXPIRY_CHOICES = [
    ("", "Never"),
    ("7", "In 7 days"),
    ("30", "In 30 days"),
    ("90", "In 90 days"),
    ("365", "In a year"),
]


class ApiTokenForm(forms.Form):
    name = forms.CharField(label="Name", max_length=80, help_text="e.g. the script that uses it")
    scopes = forms.MultipleChoiceField(
        label="Permissions",
        choices=Scope.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    expires_in_days = forms.TypedChoiceField(
        label="Expires",
        choices=EXPIRY_CHOICES,
        required=False,
        coerce=int,
        empty_value=None,
    )
    allowed_networks = forms.CharField(
        label="Allowed IP addresses (optional)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "203.0.113.7\n198.51.100.0/24"}),
        help_text="One IP address or CIDR range per line. Empty: usable from anywhere.",
    )

    def clean_allowed_networks(self) -> list[str]:
        raw = self.cleaned_data.get("allowed_networks") or ""
        return [line.strip() for line in raw.replace(",", "\n").splitlines() if line.strip()]


class AuditFilterForm(forms.Form):
    category = forms.ChoiceField(label="Category", required=False)
    since = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label="Until", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    user_email = forms.CharField(label="User e-mail", required=False, max_length=254)

    def __init__(self, *args, categories: dict[str, str], staff: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = [("", "All"), *categories.items()]
        if not staff:
            del self.fields["user_email"]


class AccountDeleteForm(forms.Form):
    confirm_email = forms.CharField(
        label="Type your e-mail address to confirm", max_length=254, strip=True
    )

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_confirm_email(self) -> str:
        value = self.cleaned_data["confirm_email"]
        if value.lower() != self.user.email.lower():
            raise forms.ValidationError("That is not your e-mail address.")
        return value
