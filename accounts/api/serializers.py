from rest_framework import serializers

from accounts.models import ApiToken, Scope, User


class UserSerializer(serializers.ModelSerializer):
    permissions = serializers.ListField(child=serializers.CharField(), source="scopes")

    class Meta:
        model = User
        fields = [
            "id",
            "email",
            "display_name",
            "date_joined",
            "kill_switch_enabled",
            "permissions",
        ]
        read_only_fields = fields


class RegisterSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, trim_whitespace=False)
    display_name = serializers.CharField(max_length=80, required=False, allow_blank=True)


class LoginSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, trim_whitespace=False)
    otp = serializers.CharField(
        max_length=32,
        required=False,
        allow_blank=True,
        help_text="The 6-digit code (or a recovery code) when two-factor authentication is on.",
    )


class ReauthSerializer(serializers.Serializer):
    password = serializers.CharField(max_length=128, trim_whitespace=False)
    otp = serializers.CharField(max_length=32, required=False, allow_blank=True)


class ReauthResultSerializer(serializers.Serializer):
    reauth_valid_seconds = serializers.IntegerField()
    access = serializers.CharField(
        required=False, help_text="JWT clients: use this access token for the risky request."
    )


class ApiTokenSerializer(serializers.ModelSerializer):
    prefix = serializers.CharField(source="display_prefix")
    active = serializers.BooleanField(source="is_active")

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "scopes",
            "allowed_networks",
            "expires_at",
            "created_at",
            "last_used_at",
            "last_used_ip",
            "revoked_at",
            "active",
        ]
        read_only_fields = fields


class ApiTokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=80)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=Scope.choices), allow_empty=False
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    allowed_networks = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, default=list
    )


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.CharField(help_text="The token itself. Shown once; store it now.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    user = UserSerializer()


class RefreshSerializer(serializers.Serializer):
    refresh = serializers.CharField()


class AccessSerializer(serializers.Serializer):
    access = serializers.CharField()
