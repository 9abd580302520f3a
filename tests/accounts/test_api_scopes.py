"""Every API endpoint declares its scopes, and every scope is enforced on every endpoint.

The table comes from the URL resolver, so endpoints other areas add later are checked
automatically; tests/fixtures/api_samples.py supplies URL arguments and bodies where needed.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import Scope
from accounts.permissions import INTERACTIVE, PUBLIC, ScopePermission, declared_scopes
from tests.factories import UserFactory
from tests.fixtures.api_samples import API_SAMPLES, Sample
from tests.fixtures.security import token_client

# Third-party pages under /api/ that are not DRF endpoints of ours: the OpenAPI schema and its
# Swagger UI (read-only documentation, public on purpose).
NOT_ENDPOINTS = {"api-schema", "api-docs"}
SCOPE_REFUSALS = {"scope_missing", "token_not_allowed", "scopes_not_declared"}
ALL_SCOPES = [scope.value for scope in Scope]


def _walk(patterns, prefix: str = "", namespace: str = ""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            ns = pattern.namespace
            full_ns = f"{namespace}:{ns}" if namespace and ns else (ns or namespace)
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), full_ns)
        elif isinstance(pattern, URLPattern):
            name = pattern.name and (f"{namespace}:{pattern.name}" if namespace else pattern.name)
            yield prefix + str(pattern.pattern), name, pattern.callback


def api_endpoints() -> list[tuple[str, str | None, object]]:
    return [
        (route, name, callback)
        for route, name, callback in _walk(get_resolver().url_patterns)
        if route.lstrip("^").startswith("api/") and name not in NOT_ENDPOINTS
    ]


def view_methods(callback) -> list[str]:
    actions = getattr(callback, "actions", None)
    if actions:  # a ViewSet: the router maps HTTP methods to actions
        return sorted(method.upper() for method in actions)
    cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    names = getattr(cls, "http_method_names", [])
    return sorted(m.upper() for m in names if m not in ("head", "options") and hasattr(cls, m))


def table() -> list:
    rows = []
    for route, name, callback in api_endpoints():
        for method in view_methods(callback) or ["GET"]:
            rows.append(pytest.param(route, name, callback, method, id=f"{method} /{route}"))
    return rows


TABLE = table()


def test_the_table_sees_the_endpoints():
    names = {name for _, name, _ in api_endpoints()}
    assert {"api-login", "api-me", "api-tokens", "api-token-detail", "api-reauth"} <= names


@pytest.mark.parametrize(("route", "name", "callback", "method"), TABLE)
def test_every_api_view_declares_its_scopes(route, name, callback, method):
    cls = getattr(callback, "cls", None)
    assert cls is not None and issubclass(cls, APIView), (
        f"/{route} is not a DRF view: plain Django views under /api/ bypass ScopePermission."
    )
    assert any(issubclass(p, ScopePermission) for p in cls.permission_classes), (
        f"{cls.__name__} replaced permission_classes without ScopePermission."
    )
    required = declared_scopes(cls, method)
    assert required is not None, f"{cls.__name__} declares no required_scopes for {method}."
    if required != PUBLIC:
        assert set(required) <= {*ALL_SCOPES, INTERACTIVE}, required
    assert name, f"/{route} needs a URL name so the scope table can call it."


def _request(client, route, name, method, sample: Sample):
    url = reverse(name, kwargs=sample.kwargs) if name else "/" + route
    body = sample.data.get(method, {})
    return getattr(client, method.lower())(url, body, format="json")


def _jwt_client(user, permissions):
    refresh = RefreshToken.for_user(user)
    refresh["permissions"] = permissions
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {refresh.access_token}")
    return client


def _sample(name, user) -> Sample:
    factory = API_SAMPLES.get(name)
    return factory(user) if factory else Sample()


def _code(response) -> str | None:
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


@pytest.mark.django_db
@pytest.mark.parametrize(("route", "name", "callback", "method"), TABLE)
def test_each_scope_is_enforced_on_each_endpoint(route, name, callback, method):
    cache.clear()
    cls = callback.cls
    required = declared_scopes(cls, method)
    if "<" in route or "(?P" in route:
        assert name in API_SAMPLES, (
            f"/{route} has URL arguments: add API_SAMPLES[{name!r}] "
            "in tests/fixtures/api_samples.py"
        )
    user = UserFactory()

    if required == PUBLIC:
        response = _request(APIClient(), route, name, method, _sample(name, user))
        assert response.status_code != 401 and _code(response) not in SCOPE_REFUSALS
        return

    anonymous = _request(APIClient(), route, name, method, _sample(name, user))
    assert anonymous.status_code == 401, anonymous.content
    assert _code(anonymous) == "not_authenticated"

    real_scopes = [scope for scope in required if scope in ALL_SCOPES]
    for scope in real_scopes:
        others = [s for s in ALL_SCOPES if s != scope]
        response = _request(token_client(user, others), route, name, method, _sample(name, user))
        assert response.status_code == 403, (scope, response.content)
        error = response.json()["error"]
        assert error["code"] == (
            "token_not_allowed" if INTERACTIVE in required else "scope_missing"
        )
        if INTERACTIVE not in required:
            assert error["missing_scopes"] == [scope]
        response = _request(_jwt_client(user, others), route, name, method, _sample(name, user))
        assert response.status_code == 403, (scope, response.content)
        assert _code(response) == "scope_missing"

    if INTERACTIVE in required:
        response = _request(
            token_client(user, ALL_SCOPES), route, name, method, _sample(name, user)
        )
        assert response.status_code == 403
        assert _code(response) == "token_not_allowed"
    else:
        # Exactly the declared scopes are enough (any one scope when none is declared).
        holding = real_scopes or [ALL_SCOPES[0]]
        response = _request(token_client(user, holding), route, name, method, _sample(name, user))
        assert response.status_code != 401 and _code(response) not in SCOPE_REFUSALS, (
            response.content
        )

    response = _request(_jwt_client(user, real_scopes), route, name, method, _sample(name, user))
    assert response.status_code != 401 and _code(response) not in SCOPE_REFUSALS, response.content


class _Forgetful(APIView):
    def get(self, request):
        return Response({"secret": "data"})


class _HalfDeclared(APIView):
    required_scopes = {"GET": [Scope.VIEW_ORDERS]}

    def get(self, request):
        return Response({})

    def post(self, request):
        return Response({"written": True})


@pytest.mark.django_db
def test_a_view_that_forgets_to_declare_is_refused(user):
    request = APIRequestFactory().get("/api/forgetful")
    from rest_framework.test import force_authenticate

    force_authenticate(request, user=user)
    response = _Forgetful.as_view()(request)
    assert response.status_code == 403
    assert response.data["error"]["code"] == "scopes_not_declared"

    request = APIRequestFactory().post("/api/half", {}, format="json")
    force_authenticate(request, user=user)
    response = _HalfDeclared.as_view()(request)
    assert response.status_code == 403
    assert response.data["error"]["code"] == "scopes_not_declared"
