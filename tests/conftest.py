"""Suite-wide fixtures. Area fixtures live in tests/fixtures/ and are registered here."""

import pytest

pytest_plugins = [
    "tests.fixtures.sandbox",
    "tests.fixtures.processes",
    "tests.fixtures.browser",
    "tests.fixtures.security",
]


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
async def async_db_cleanup():
    """Async tests touch the database from asgiref's worker thread; close that thread's
    connection afterwards so the test database can be dropped at the end of the session."""
    yield
    from asgiref.sync import sync_to_async
    from django.db import connections

    await sync_to_async(connections.close_all)()


def pytest_collection_modifyitems(config, items):
    """Browser tests run last. Playwright's sync API keeps an event loop running in the main
    thread while the session-wide browser is open, and async tests cannot start their own loop
    while it runs; a single chromium for the whole session is worth keeping."""
    uses_browser = [item for item in items if "browser" in getattr(item, "fixturenames", ())]
    if uses_browser:
        chosen = set(map(id, uses_browser))
        items[:] = [item for item in items if id(item) not in chosen] + uses_browser
