"""Migration operations for Kima's schema, each able to say whether its effect is present.

`kima.adoption` asks every operation for the schema facts it establishes so that
`migrate` can adopt an existing Kima database. Django's own operations are described
there; these custom ones describe themselves through `adoption_facts`.
"""

from collections.abc import Callable
from typing import Any

from django.db import migrations
from django.db.migrations.operations.base import Operation

from kima.adoption import Fact


class AddForeignKeySQL(Operation):
    """A database-level foreign key named and behaving as Prisma creates it.

    Kima relies on `ON DELETE CASCADE` in the database, which Django 5.2 cannot express,
    so the model declares `db_constraint=False` and this operation owns the constraint.
    SQLite cannot add constraints to an existing table; there Django's own cascade
    (on_delete in the model) does the work.
    """

    reduces_to_sql = True
    reversible = True

    def __init__(
        self,
        table: str,
        column: str,
        ref_table: str,
        on_delete: str = "CASCADE",
        ref_column: str = "id",
    ) -> None:
        self.table = table
        self.column = column
        self.ref_table = ref_table
        self.on_delete = on_delete
        self.ref_column = ref_column

    @property
    def name(self) -> str:
        return f"{self.table}_{self.column}_fkey"

    def deconstruct(self) -> tuple[str, list, dict]:
        kwargs = {"table": self.table, "column": self.column, "ref_table": self.ref_table}
        if self.on_delete != "CASCADE":
            kwargs["on_delete"] = self.on_delete
        if self.ref_column != "id":
            kwargs["ref_column"] = self.ref_column
        return self.__class__.__qualname__, [], kwargs

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass  # the constraint is invisible to Django's model state

    def database_forwards(self, app_label, schema_editor, from_state, to_state) -> None:  # noqa: ANN001
        if schema_editor.connection.vendor != "postgresql":
            return
        q = schema_editor.quote_name
        schema_editor.execute(
            f"ALTER TABLE {q(self.table)} ADD CONSTRAINT {q(self.name)} "
            f"FOREIGN KEY ({q(self.column)}) REFERENCES {q(self.ref_table)}({q(self.ref_column)}) "
            f"ON DELETE {self.on_delete} ON UPDATE CASCADE"
        )

    def database_backwards(self, app_label, schema_editor, from_state, to_state) -> None:  # noqa: ANN001
        if schema_editor.connection.vendor != "postgresql":
            return
        q = schema_editor.quote_name
        schema_editor.execute(
            f"ALTER TABLE {q(self.table)} DROP CONSTRAINT IF EXISTS {q(self.name)}"
        )

    def describe(self) -> str:
        return f"Add foreign key {self.name}"

    def adoption_facts(self, connection: Any) -> list[Fact]:
        if connection.vendor != "postgresql":
            return []
        return [Fact("constraint", self.table, self.name, True)]


class DropIndexIfExists(Operation):
    """Drop an index that Kima created but our models do not have."""

    reduces_to_sql = True
    reversible = True

    def __init__(self, table: str, name: str) -> None:
        self.table = table
        self.name = name

    def deconstruct(self) -> tuple[str, list, dict]:
        return self.__class__.__qualname__, [], {"table": self.table, "name": self.name}

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state) -> None:  # noqa: ANN001
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(self.name)}")

    def database_backwards(self, app_label, schema_editor, from_state, to_state) -> None:  # noqa: ANN001
        pass  # the dropped index was a defect; it is not restored

    def describe(self) -> str:
        return f"Drop index {self.name} if it exists"

    def adoption_facts(self, connection: Any) -> list[Fact]:
        return [Fact("constraint", self.table, self.name, False)]


class IdempotentRunPython(migrations.RunPython):
    """A data step that is safe to run again; adoption re-runs it instead of guessing."""

    rerun_on_adoption = True

    def __init__(self, code: Callable, **kwargs: Any) -> None:
        kwargs.setdefault("reverse_code", migrations.RunPython.noop)
        super().__init__(code, **kwargs)
