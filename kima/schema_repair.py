"""Complete an operation whose effect is partly in the database.

Only additive, data-preserving steps are taken here: add a missing column, create a
missing index or constraint, relax a NOT NULL. `kima.adoption.is_repairable` refuses
everything else before anything is written.
"""

from __future__ import annotations

from typing import Any

from kima.adoption import Fact, OperationReport


def complete_operation(report: OperationReport, app_label: str, editor: Any, state: Any) -> None:
    operation = report.operation
    model_name = getattr(operation, "model_name", None) or operation.name
    model = state.apps.get_model(app_label, model_name)
    added_columns = {fact.name for fact, _ in report.missing if fact.kind == "column"}
    for fact, _actual in report.missing:
        if fact.kind.startswith("column_") and fact.name in added_columns:
            continue  # the column is created whole, with its type and nullability
        repair(fact, model, editor)


def repair(fact: Fact, model: Any, editor: Any) -> None:
    if fact.kind == "column":
        editor.add_field(model, field_by_column(model, fact.name))
    elif fact.kind == "column_null":
        field = field_by_column(model, fact.name)
        strict = field.clone()
        strict.null = False
        strict.set_attributes_from_name(field.name)
        strict.model = model
        editor.alter_field(model, strict, field)
    elif fact.kind == "constraint":
        add_named(model, fact.name, editor)
    else:  # pragma: no cover - adoption refuses these before we get here
        raise ValueError(f"cannot repair {fact}")


def field_by_column(model: Any, column: str) -> Any:
    for field in model._meta.local_fields:
        if field.column == column:
            return field
    raise LookupError(f"{model._meta.db_table} has no column {column}")


def add_named(model: Any, name: str, editor: Any) -> None:
    for index in model._meta.indexes:
        if index.name == name:
            editor.add_index(model, index)
            return
    for constraint in model._meta.constraints:
        if constraint.name == name:
            editor.add_constraint(model, constraint)
            return
    raise LookupError(f"{model._meta.db_table} declares no index or constraint {name}")
