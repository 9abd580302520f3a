from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.api.serializers import (
    AccessSerializer,
    LoginSerializer,
    RefreshSerializer,
    RegisterSerializer,
    TokenPairSerializer,
    UserSerializer,
)
from accounts.models import User
from accounts.services import audit_record, user_register
from klineo.exceptions import ApplicationError


def token_pair_for(user: User) -> dict:
    """JWTs carry the user's permissions, as clients of the API expect."""
    refresh = RefreshToken.for_user(user)
    refresh["email"] = user.email
    refresh["permissions"] = user.scopes
    return {
        "access": str(refresh.access_token),
        "refresh": str(refresh),
        "user": UserSerializer(user).data,
    }


class RegisterView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(request=RegisterSerializer, responses={201: TokenPairSerializer})
    def post(self, request):
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = user_register(**serializer.validated_data, request=request._request)
        return Response(token_pair_for(user), status=status.HTTP_201_CREATED)


class LoginView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(request=LoginSerializer, responses={200: TokenPairSerializer})
    def post(self, request):
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        email = serializer.validated_data["email"].strip().lower()
        # The Django request goes to authenticate() so django-axes can count and lock out.
        user = authenticate(
            request._request, username=email, password=serializer.validated_data["password"]
        )
        if user is None:
            audit_record(
                user=None,
                action="auth.login_failed",
                request=request._request,
                email=email,
                via="api",
            )
            raise ApplicationError(
                "Wrong e-mail or password.", code="invalid_credentials", status_code=401
            )
        audit_record(user=user, action="auth.login", request=request._request, via="api")
        return Response(token_pair_for(user))


class RefreshView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(request=RefreshSerializer, responses={200: AccessSerializer})
    def post(self, request):
        serializer = RefreshSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            refresh = RefreshToken(serializer.validated_data["refresh"])
        except TokenError as exc:
            raise ApplicationError(
                "The refresh token is invalid or expired. Log in again.",
                code="token_invalid",
                status_code=401,
            ) from exc
        return Response({"access": str(refresh.access_token)})


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: UserSerializer})
    def get(self, request):
        return Response(UserSerializer(request.user).data)
