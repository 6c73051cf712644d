"""A comparable description of the slice tables in a PostgreSQL database."""

from __future__ import annotations

import psycopg

SLICE_TABLES = [
    "User", "ApiKey", "SystemSettings", "DownloadJob", "DiscoveryBatch", "Notification",
    "WebhookEvent",
]  # fmt: skip


def snapshot(url: str, tables: list[str] = SLICE_TABLES) -> dict[str, set]:
    with psycopg.connect(url) as conn:
        columns = conn.execute(
            """
            SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                   pg_get_expr(d.adbin, d.adrelid)
            FROM pg_attribute a
            JOIN pg_class c ON c.oid = a.attrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE n.nspname = 'public' AND c.relname = ANY(%s)
              AND a.attnum > 0 AND NOT a.attisdropped
            """,
            [tables],
        ).fetchall()
        indexes = conn.execute(
            """SELECT tablename, indexname, indexdef FROM pg_indexes
               WHERE schemaname = 'public' AND tablename = ANY(%s)""",
            [tables],
        ).fetchall()
        constraints = conn.execute(
            """
            SELECT c.relname, k.conname, pg_get_constraintdef(k.oid)
            FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
            WHERE k.contype IN ('f', 'c') AND c.relname = ANY(%s)
            """,
            [tables],
        ).fetchall()
    return {"columns": set(columns), "indexes": set(indexes), "constraints": set(constraints)}


def differences(expected: dict[str, set], actual: dict[str, set]) -> list[str]:
    found = []
    for part in expected:
        for item in sorted(expected[part] - actual[part], key=str):
            found.append(f"missing {part}: {item}")
        for item in sorted(actual[part] - expected[part], key=str):
            found.append(f"unexpected {part}: {item}")
    return found
