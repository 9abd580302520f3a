"""HTML forms of the exchanges app: input shape only. Keys are validated by the services, which
name the failing field; views copy those messages onto the form."""

from __future__ import annotations

from django import forms

from exchanges.models import Environment, KeyType

_NO_AUTOFILL = {"autocomplete": "off", "spellcheck": "false", "autocapitalize": "off"}


class SecretTextarea(forms.Textarea):
    """A textarea that never renders its value back: a re-displayed form shows it empty."""

    def format_value(self, value):
        return None


class ConnectionForm(forms.Form):
    label = forms.CharField(
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "e.g. Main account", **_NO_AUTOFILL}),
    )
    environment = forms.ChoiceField(
        choices=Environment.choices,
        initial=Environment.SANDBOX,
        help_text="Where the key was created. Sandbox and testnet use fake money; mainnet is "
        "real money.",
    )
    key_type = forms.ChoiceField(choices=KeyType.choices, initial=KeyType.HMAC)
    api_key = forms.CharField(
        label="API key",
        max_length=1000,
        required=False,
        strip=False,
        widget=forms.TextInput(attrs={"class": "mono", **_NO_AUTOFILL}),
    )
    secret = forms.CharField(
        label="Secret key / private key (PEM)",
        max_length=20000,
        required=False,
        strip=False,
        widget=SecretTextarea(attrs={"rows": 4, "class": "mono secret-input", **_NO_AUTOFILL}),
        help_text="Stored encrypted; never shown again.",
    )


class ConnectionEditForm(ConnectionForm):
    """Rename, or replace keys / environment (key fields left empty keep the stored ones)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["label"].required = True
        self.fields["api_key"].help_text = "Leave empty to keep the stored API key."
        self.fields["secret"].help_text = "Leave empty to keep the stored secret."


class DemoKeysForm(forms.Form):
    key_type = forms.ChoiceField(choices=KeyType.choices, initial=KeyType.HMAC, required=False)
