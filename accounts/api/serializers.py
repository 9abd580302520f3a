from rest_framework import serializers

from accounts.models import User


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


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    user = UserSerializer()


class RefreshSerializer(serializers.Serializer):
    refresh = serializers.CharField()


class AccessSerializer(serializers.Serializer):
    access = serializers.CharField()
