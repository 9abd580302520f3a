import uuid

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.api.serializers import (
    AccessSerializer,
    ApiTokenCreatedSerializer,
    ApiTokenCreateSerializer,
    ApiTokenSerializer,
    LoginSerializer,
    ReauthResultSerializer,
    ReauthSerializer,
    RefreshSerializer,
    RegisterSerializer,
    TokenPairSerializer,
    UserSerializer,
)
from accounts.models import User
from accounts.permissions import INTERACTIVE, PUBLIC, credential_kind, credential_scopes
from accounts.reauth import (
    REAUTH_MAX_AGE,
    otp_error,
    reauth_access_token,
    reauth_mark_session,
    reauth_verify,
    require_recent_auth,
)
from accounts.selectors import api_tokens_for_user
from accounts.services import login_record_failure, login_record_success, user_register
from accounts.services.tokens import api_token_create, api_token_revoke
from accounts.services.two_factor import second_factor_check, two_factor_enabled
from klineo.exceptions import ApplicationError


def token_pair_for(user: User) -> dict:
    """JWTs carry the user's permissions, as clients of the API expect."""
    refresh = RefreshToken.for_user(user)
    refresh["email"] = user.email
    refresh["permissions"] = user.scopes
    # Identifies this login across refreshes ("first mainnet order of the session").
    refresh["sid"] = uuid.uuid4().hex
    return {
        "access": str(refresh.access_token),
        "refresh": str(refresh),
        "user": UserSerializer(user).data,
    }


class RegisterView(APIView):
    required_scopes = PUBLIC
    authentication_classes: list = []

    @extend_schema(request=RegisterSerializer, responses={201: TokenPairSerializer})
    def post(self, request):
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = user_register(**serializer.validated_data, request=request._request)
        return Response(token_pair_for(user), status=status.HTTP_201_CREATED)


class LoginView(APIView):
    required_scopes = PUBLIC
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
            login_record_failure(
                email=email, request=request._request, via="api", reason="password"
            )
            raise ApplicationError(
                "Wrong e-mail or password.", code="invalid_credentials", status_code=401
            )
        if two_factor_enabled(user=user):
            otp = serializer.validated_data.get("otp", "").strip()
            if not otp:
                raise ApplicationError(
                    "Two-factor authentication is on: send the code from your authenticator app "
                    'in the "otp" field (or a recovery code).',
                    code="otp_required",
                    status_code=401,
                )
            check = second_factor_check(user=user, code=otp)
            if not check.ok:
                login_record_failure(
                    email=email, request=request._request, via="api", reason=f"otp_{check.kind}"
                )
                raise otp_error(check, status_code=401)
            login_record_success(
                user=user, request=request._request, via="api", second_factor=check.kind
            )
        else:
            login_record_success(user=user, request=request._request, via="api")
        return Response(token_pair_for(user))


class RefreshView(APIView):
    required_scopes = PUBLIC
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
    required_scopes = {"GET": []}

    @extend_schema(responses={200: UserSerializer})
    def get(self, request):
        data = UserSerializer(request.user).data
        # What this credential may do: an API token reports its own scopes.
        data["permissions"] = [
            scope for scope in data["permissions"] if scope in credential_scopes(request)
        ]
        return Response(data)


class ReauthView(APIView):
    """Re-authenticate for risky actions (valid for REAUTH_MAX_AGE seconds).

    JWT clients get a new access token carrying the proof and use it for the risky request;
    session clients (the browser) have the time recorded in their session.
    """

    required_scopes = {"POST": [INTERACTIVE]}

    @extend_schema(request=ReauthSerializer, responses={200: ReauthResultSerializer})
    def post(self, request):
        serializer = ReauthSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        reauth_verify(
            request,
            user=request.user,
            password=serializer.validated_data["password"],
            otp=serializer.validated_data.get("otp", ""),
        )
        body = {"reauth_valid_seconds": REAUTH_MAX_AGE}
        if credential_kind(request) == "jwt":
            body["access"] = reauth_access_token(request)
        else:
            reauth_mark_session(request)
        return Response(body)


class ApiTokenListView(APIView):
    """List your API tokens, or create one (needs a fresh re-authentication)."""

    required_scopes = {"GET": [INTERACTIVE], "POST": [INTERACTIVE]}

    @extend_schema(responses={200: ApiTokenSerializer(many=True)})
    def get(self, request):
        tokens = api_tokens_for_user(user=request.user)
        return Response(ApiTokenSerializer(tokens, many=True).data)

    @extend_schema(request=ApiTokenCreateSerializer, responses={201: ApiTokenCreatedSerializer})
    def post(self, request):
        serializer = ApiTokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        require_recent_auth(request, action="token.create")
        token, raw = api_token_create(
            user=request.user, **serializer.validated_data, request=request._request
        )
        data = ApiTokenSerializer(token).data
        data["token"] = raw
        return Response(data, status=status.HTTP_201_CREATED)


class ApiTokenDetailView(APIView):
    """Revoke one of your API tokens (no re-authentication needed: revoking is always safe)."""

    required_scopes = {"DELETE": [INTERACTIVE]}

    @extend_schema(responses={204: None})
    def delete(self, request, pk: int):
        api_token_revoke(user=request.user, token_id=pk, request=request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)
