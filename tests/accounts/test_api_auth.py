import pytest
from django.core.cache import cache

from accounts.models import AuditEvent, User
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

STRONG = "a-Strong-passphrase-42"


@pytest.fixture(autouse=True)
def _clear_axes():
    from axes.utils import reset

    reset()
    cache.clear()


def test_register_returns_tokens_and_user(api_client):
    response = api_client.post(
        "/api/auth/register", {"email": "New@Example.com", "password": STRONG}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"access", "refresh", "user"}
    assert body["user"]["email"] == "new@example.com"
    assert body["user"]["permissions"] == [
        "VIEW_BALANCES",
        "VIEW_ORDERS",
        "PLACE_ORDERS",
        "MANAGE_CONNECTIONS",
    ]
    user = User.objects.get(email="new@example.com")
    assert user.check_password(STRONG)
    assert AuditEvent.objects.filter(user=user, action="account.registered").exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"password": STRONG}, "email"),
        ({"email": "a@example.com"}, "password"),
        ({"email": "not-an-email", "password": STRONG}, "email"),
        ({"email": "a@example.com", "password": "short"}, "password"),
        ({"email": "a@example.com", "password": "password123"}, "password"),
        ({"email": "a@example.com", "password": "12345678901234"}, "password"),
    ],
)
def test_register_rejects_bad_input_naming_the_field(api_client, payload, field):
    response = api_client.post("/api/auth/register", payload, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"]
    assert error["message"]
    assert not User.objects.exists()


def test_register_duplicate_email_is_refused(api_client):
    UserFactory(email="taken@example.com")
    response = api_client.post(
        "/api/auth/register", {"email": "TAKEN@example.com", "password": STRONG}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["email"] == [
        "An account with this e-mail address already exists."
    ]
    assert User.objects.count() == 1


def test_malformed_json_is_a_400_with_the_error_body(api_client):
    response = api_client.post(
        "/api/auth/register", data='{"email": "x@', content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"


def test_wrong_content_type_is_a_415(api_client):
    response = api_client.post(
        "/api/auth/login",
        data="email=a@example.com&password=x",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_login_refresh_me_round_trip(api_client):
    user = UserFactory(email="me@example.com")
    response = api_client.post(
        "/api/auth/login", {"email": "ME@example.com", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.content
    tokens = response.json()
    assert tokens["user"]["id"] == user.id

    refreshed = api_client.post("/api/auth/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert refreshed.status_code == 200
    access = refreshed.json()["access"]

    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    me = api_client.get("/api/auth/me")
    assert me.status_code == 200
    assert me.json() == {
        "id": user.id,
        "email": "me@example.com",
        "display_name": user.display_name,
        "date_joined": user.date_joined.isoformat().replace("+00:00", "Z"),
        "kill_switch_enabled": False,
        "permissions": ["VIEW_BALANCES", "VIEW_ORDERS", "PLACE_ORDERS", "MANAGE_CONNECTIONS"],
    }
    assert AuditEvent.objects.filter(user=user, action="auth.login").count() == 1


def test_jwt_carries_the_permissions_claim(api_client):
    import jwt

    UserFactory(email="claims@example.com")
    tokens = api_client.post(
        "/api/auth/login", {"email": "claims@example.com", "password": PASSWORD}, format="json"
    ).json()
    claims = jwt.decode(tokens["access"], options={"verify_signature": False})
    assert claims["permissions"] == tokens["user"]["permissions"]


def test_wrong_password_is_401_and_audited(api_client):
    UserFactory(email="me@example.com")
    response = api_client.post(
        "/api/auth/login", {"email": "me@example.com", "password": "wrong-password"}, format="json"
    )
    assert response.status_code == 401
    assert response.json() == {
        "error": {"code": "invalid_credentials", "message": "Wrong e-mail or password."}
    }
    assert AuditEvent.objects.filter(action="auth.login_failed").count() == 1


def test_me_without_token_is_401(api_client):
    response = api_client.get("/api/auth/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_refresh_with_garbage_is_401(api_client):
    response = api_client.post("/api/auth/refresh", {"refresh": "garbage"}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_invalid"


def test_login_locks_out_after_repeated_failures(api_client, settings):
    UserFactory(email="target@example.com")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = api_client.post(
            "/api/auth/login",
            {"email": "target@example.com", "password": "nope-nope"},
            format="json",
        )
        assert response.status_code == 401
    response = api_client.post(
        "/api/auth/login", {"email": "target@example.com", "password": "nope-nope"}, format="json"
    )
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "locked_out"
    # Even the right password is refused while locked out.
    response = api_client.post(
        "/api/auth/login", {"email": "target@example.com", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 429


def test_unknown_api_path_is_json_404(client):
    response = client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}


def test_openapi_schema_and_docs(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in ("/api/auth/register", "/api/auth/login", "/api/auth/refresh", "/api/auth/me"):
        assert path in paths
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()
