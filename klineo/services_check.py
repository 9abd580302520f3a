"""`make test` precondition: PostgreSQL and Redis must answer, with a clear message if not."""

import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "klineo.settings")
os.environ.setdefault("KLINEO_TESTING", "1")


def main() -> None:
    import django

    django.setup()
    import redis
    from django.conf import settings
    from django.db import connection

    problems = []
    db = settings.DATABASES["default"]
    try:
        # The suite creates its own test database, so only the server has to answer.
        with connection._nodb_cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001
        problems.append(
            f"PostgreSQL is not reachable at {db.get('HOST')}:{db.get('PORT')} "
            f"({type(exc).__name__}). Start it or set DATABASE_URL."
        )
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1).ping()
    except Exception as exc:  # noqa: BLE001
        problems.append(
            f"Redis is not reachable at {settings.REDIS_URL} ({type(exc).__name__}). "
            "Start it or set REDIS_URL."
        )
    if problems:
        sys.exit("Cannot run the tests:\n- " + "\n- ".join(problems))


if __name__ == "__main__":
    main()
