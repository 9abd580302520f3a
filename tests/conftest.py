"""Suite-wide fixtures. Area fixtures live in tests/fixtures/ and are registered here."""

import pytest

pytest_plugins = [
    "tests.fixtures.sandbox",
    "tests.fixtures.processes",
    "tests.fixtures.browser",
]


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()
