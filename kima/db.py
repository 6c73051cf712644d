"""Model fields and helpers that keep Kima's (Prisma's) column shapes.

Kima's tables use text primary keys holding cuid strings, `timestamp(3) without time
zone` columns holding UTC, and `text[]` arrays. These fields produce exactly those
types on PostgreSQL and sensible equivalents on SQLite.
"""

import json
import os
import secrets
import threading
import time
from datetime import UTC, datetime
from typing import Any

from django.db import models
from django.db.models import Func

_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_counter_lock = threading.Lock()
_counter = secrets.randbelow(36**4)


def _base36(number: int, width: int) -> str:
    digits = []
    while number:
        number, rem = divmod(number, 36)
        digits.append(_BASE36[rem])
    text = "".join(reversed(digits)) or "0"
    return text.rjust(width, "0")[-width:]


def _fingerprint() -> str:
    return _base36(os.getpid(), 2) + _base36(sum(map(ord, os.uname().nodename)) + 36, 2)


def new_cuid() -> str:
    """A 25-character collision-resistant id in the cuid (v1) shape Kima's rows use."""
    global _counter
    with _counter_lock:
        _counter = (_counter + 1) % 36**4
        count = _counter
    millis = int(time.time() * 1000)
    random_part = _base36(secrets.randbits(42), 8)
    return "c" + _base36(millis, 8) + _base36(count, 4) + _fingerprint() + random_part


class CurrentTimestamp(Func):
    """`CURRENT_TIMESTAMP`, the default Prisma writes for `@default(now())` columns."""

    template = "CURRENT_TIMESTAMP"
    output_field = models.DateTimeField()

    def __init__(self) -> None:
        super().__init__()


class EmptyTextArray(Func):
    """`ARRAY[]::text[]` on PostgreSQL, `'[]'` (JSON) on SQLite."""

    template = "'[]'"

    def __init__(self) -> None:
        super().__init__()

    def as_postgresql(self, compiler, connection, **extra_context):  # noqa: ANN001
        return "ARRAY[]::text[]", []


class JSONMerge(Func):
    """`column` with `changes` merged into it by the database: keys are set, a None value
    removes the key. Use in `.update(metadata=JSONMerge("metadata", {...}))`: writers of
    different keys (a webhook linking a release, a worker reporting progress) never undo
    each other, which a read-modify-write of the whole document would.

    PostgreSQL: `(coalesce(col, '{}') - removed) || set` on jsonb. SQLite: `json_patch`
    (RFC 7396, which also treats null as "remove"). Values are replaced whole at the top
    level on PostgreSQL; callers pass complete values for nested keys."""

    output_field = models.JSONField()

    def __init__(self, column: str, changes: dict[str, Any]) -> None:
        self.changes = dict(changes)
        super().__init__(models.F(column))

    def _column(self, compiler, connection) -> tuple[str, list]:  # noqa: ANN001
        sql, params = compiler.compile(self.source_expressions[0])
        return sql, list(params)

    def as_sql(self, compiler, connection, **extra_context):  # noqa: ANN001
        column, params = self._column(compiler, connection)
        return f"json_patch(COALESCE({column}, '{{}}'), %s)", [*params, json.dumps(self.changes)]

    def as_postgresql(self, compiler, connection, **extra_context):  # noqa: ANN001
        column, params = self._column(compiler, connection)
        kept = {key: value for key, value in self.changes.items() if value is not None}
        removed = [key for key, value in self.changes.items() if value is None]
        sql = f"((COALESCE({column}, '{{}}'::jsonb) - %s::text[]) || %s::jsonb)"
        return sql, [*params, removed, json.dumps(kept)]


class UniqueTextField(models.TextField):
    """A text column whose unique index is named in Meta, as Kima's are.

    The type is spelled upper-case on purpose: Django's PostgreSQL schema editor adds a
    `<name>_like` pattern index to every unique column whose type starts with lower-case
    `text`, an index Kima's schema does not have.
    """

    def db_type(self, connection) -> str:  # noqa: ANN001
        return "TEXT" if connection.vendor == "postgresql" else "text"


class KimaIdField(UniqueTextField):
    """Text primary key with a cuid default."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("primary_key", True)
        kwargs.setdefault("default", new_cuid)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)


class KimaDateTimeField(models.DateTimeField):
    """`timestamp(3) without time zone` holding UTC; aware UTC datetimes in Python."""

    def db_type(self, connection) -> str:  # noqa: ANN001
        if connection.vendor == "postgresql":
            return "timestamp(3) without time zone"
        return super().db_type(connection)

    def pre_save(self, model_instance: models.Model, add: bool) -> datetime | None:
        value = self.to_python(super().pre_save(model_instance, add))
        if value is not None:
            value = to_millis(value)
            setattr(model_instance, self.attname, value)
        return value

    def get_db_prep_value(self, value: Any, connection, prepared: bool = False) -> Any:  # noqa: ANN001
        if connection.vendor == "postgresql" and isinstance(value, datetime):
            if value.tzinfo is not None:
                value = value.astimezone(UTC).replace(tzinfo=None)
            return value
        return super().get_db_prep_value(value, connection, prepared)

    def from_db_value(self, value: Any, expression: Any, connection) -> Any:  # noqa: ANN001
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def to_millis(value: datetime) -> datetime:
    """Round down to the millisecond precision of `timestamp(3)`."""
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


class StringListField(models.Field):
    """A list of strings: `text[]` on PostgreSQL, a JSON array in a text column on SQLite."""

    description = "List of strings"

    def db_type(self, connection) -> str:  # noqa: ANN001
        return "text[]" if connection.vendor == "postgresql" else "text"

    def get_internal_type(self) -> str:
        return "StringListField"

    def from_db_value(self, value: Any, expression: Any, connection) -> list[str] | None:  # noqa: ANN001
        if value is None or isinstance(value, list):
            return value
        return json.loads(value)

    def to_python(self, value: Any) -> list[str] | None:
        if value is None or isinstance(value, list):
            return value
        return json.loads(value)

    def get_db_prep_value(self, value: Any, connection, prepared: bool = False) -> Any:  # noqa: ANN001
        if value is None:
            return None
        items = [str(item) for item in value]
        if connection.vendor == "postgresql":
            return items
        return json.dumps(items)
