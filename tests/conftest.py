"""Suite-wide fixtures. Area fixtures live in tests/fixtures/ and are registered here."""

pytest_plugins = [
    "tests.fixtures.sandbox",
]
