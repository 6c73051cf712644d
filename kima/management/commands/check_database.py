"""Exit 0 when the database accepts a connection, 1 (with the reason) when it does not.
The container entrypoint calls it in a bounded loop before migrating."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection


class Command(BaseCommand):
    help = "Check once that the database accepts connections."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            connection.ensure_connection()
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except Exception as error:  # noqa: BLE001 - reported, the caller retries
            raise CommandError(f"database not reachable: {error}") from None
        finally:
            connection.close()
        self.stdout.write("database is reachable")
