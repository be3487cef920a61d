"""The database carries no index that another one already serves (docs/DECISIONS.md 39): a
column that leads a composite index or unique constraint gets no single-column index of its own,
since every lookup by it can use the composite one and each extra index costs every insert."""

import pytest
from django.apps import apps
from django.db import connection, models

APPS = ("clinician", "couples", "cyclecare")


def leading_columns(model: type[models.Model]) -> set[str]:
    """Columns that lead a composite index or unique constraint covering every row."""
    meta = model._meta
    field_lists = [index.fields for index in meta.indexes if index.condition is None and not index.opclasses]
    field_lists += [
        constraint.fields
        for constraint in meta.constraints
        if isinstance(constraint, models.UniqueConstraint)
        and constraint.fields
        and constraint.condition is None
    ]
    field_lists += list(meta.unique_together)
    return {meta.get_field(fields[0].lstrip("-")).column for fields in field_lists if len(fields) > 1}


def single_column_indexes(cursor, table: str) -> dict[str, str]:
    """Index name -> column, for the table's plain (not unique) one-column indexes."""
    if connection.vendor == "sqlite":
        # Django's SQLite introspection cannot parse some CHECK constraints (``IN (1, 2, …)``).
        found = {}
        for _, name, unique, origin, _partial in cursor.execute(f'PRAGMA index_list("{table}")').fetchall():
            columns = [row[2] for row in cursor.execute(f'PRAGMA index_info("{name}")').fetchall()]
            if not unique and origin == "c" and len(columns) == 1:
                found[name] = columns[0]
        return found
    constraints = connection.introspection.get_constraints(cursor, table)
    return {
        name: constraint["columns"][0]
        for name, constraint in constraints.items()
        if constraint["index"]
        and not constraint["unique"]
        and not constraint["primary_key"]
        and constraint["columns"]
        and len(constraint["columns"]) == 1
    }


@pytest.mark.django_db
def test_no_column_has_an_index_a_composite_one_already_serves():
    checked = set()
    with connection.cursor() as cursor:
        for model in apps.get_models():
            if model._meta.app_label not in APPS or not model._meta.managed:
                continue
            leading = leading_columns(model)
            indexes = single_column_indexes(cursor, model._meta.db_table)
            redundant = [name for name, column in indexes.items() if column in leading]
            assert redundant == [], (model._meta.label, redundant)
            if leading:
                checked.add(model._meta.db_table)
    busiest = {
        "cyclecare_checkin",
        "cyclecare_reminderdelivery",
        "clinician_auditevent",
        "clinician_therapysession",
    }
    assert busiest <= checked
