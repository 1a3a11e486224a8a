"""Migrations are expand-only: replicas of the previous release keep running against the migrated schema.

A rolling upgrade (deploy/kubernetes/tocsin.yaml: maxUnavailable 0) starts one new replica, which migrates
(`database.auto_migrate`) while the older replicas still read and write with the previous code; a roll-back
runs the previous code against the new schema too. So the `upgrade()` of a migration may only add what the
previous code ignores (docs/operations.md, "Upgrades"):

- refused: dropping or renaming a table, a column, an index or a constraint; `alter_column` that renames,
  changes the type or makes a column NOT NULL; a NOT NULL column added without a server default (the previous
  code's INSERTs do not name it); a unique index or a constraint on an existing table (the previous code's
  writes may violate it); raw SQL (`op.execute`), which this check cannot read;
- an index on an existing table must be built with `postgresql_concurrently=True` (in an autocommit block), so
  that the build does not block the other replicas' writes past their `database.lock_timeout`;
- allowed: new tables (with any constraints), nullable columns or columns with a server default, indexes on
  new tables.

The contracting half (dropping what the new code no longer uses) ships one release later, once no replica runs
the code that needed it, and is listed in ALLOWED with the reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VERSIONS = REPO / "webhook/store/migrations/versions"

#: (revision, finding) -> why it is safe: the release whose code stopped using the object, now replaced everywhere.
ALLOWED: dict[tuple[str, str], str] = {}

RENAMES_OR_DROPS = {"drop_table", "drop_column", "drop_index", "drop_constraint", "rename_table",
                    "drop_table_comment", "drop_column_comment"}
CONSTRAINTS_ON_EXISTING = {"create_unique_constraint", "create_check_constraint", "create_foreign_key",
                           "create_primary_key", "create_exclude_constraint"}


def _const(node: ast.AST | None) -> object:
    return node.value if isinstance(node, ast.Constant) else None


def _kw(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _column_problem(col: ast.expr) -> str | None:
    """A new column of an existing table that the previous code's INSERTs would violate."""
    if not (isinstance(col, ast.Call) and isinstance(col.func, ast.Attribute) and col.func.attr == "Column"):
        return None
    not_null = _const(_kw(col, "nullable")) is False or _const(_kw(col, "primary_key")) is True
    if not_null and _kw(col, "server_default") is None:
        return f"add_column {_const(col.args[0]) if col.args else '?'}: NOT NULL without server_default"
    return None


def findings(source: str) -> list[str]:
    """What `upgrade()` of one migration does that the previous release's code could not live with."""
    tree = ast.parse(source)
    upgrade = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "upgrade"), None)
    assert upgrade is not None, "a migration without upgrade()"
    created: set[object] = set()  # tables created by this migration: anything goes for them
    batch_tables: dict[str, object] = {}  # `with op.batch_alter_table("t") as b:` -> b is table t
    calls: list[tuple[ast.Call, ast.Attribute]] = []
    for node in ast.walk(upgrade):
        if isinstance(node, ast.With):
            for item in node.items:
                ctx = item.context_expr
                if (isinstance(ctx, ast.Call) and isinstance(ctx.func, ast.Attribute)
                        and ctx.func.attr == "batch_alter_table" and isinstance(item.optional_vars, ast.Name)):
                    batch_tables[item.optional_vars.id] = _const(ctx.args[0]) if ctx.args else None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            calls.append((node, node.func))
            if node.func.attr == "create_table" and node.args:
                created.add(_const(node.args[0]))
    out: list[str] = []
    for call, func in sorted(calls, key=lambda c: (c[0].lineno, c[0].col_offset)):
        op, args, receiver = func.attr, call.args, func.value
        batch = receiver.id if isinstance(receiver, ast.Name) and receiver.id in batch_tables else None
        in_batch, table = batch is not None, batch_tables.get(batch or "")

        def arg(i: int, call: ast.Call = call) -> object:
            return _const(call.args[i]) if len(call.args) > i else None

        if op in RENAMES_OR_DROPS:
            out.append(f"{op} {', '.join(str(_const(a)) for a in args)}".rstrip())
        elif op == "execute":
            out.append("execute: raw SQL")
        elif op == "alter_column":
            table, column = (table, arg(0)) if in_batch else (arg(0), arg(1))
            if table in created:
                continue
            for kw, why in (("new_column_name", "renames"), ("type_", "changes the type of"),
                            ("nullable", "makes NOT NULL")):
                value = _kw(call, kw)
                if value is not None and not (kw == "nullable" and _const(value) is not False):
                    out.append(f"alter_column {why} {table}.{column}")
        elif op == "add_column":
            pos = 0 if in_batch else 1
            table = table if in_batch else arg(0)
            col = args[pos] if len(args) > pos else None
            problem = _column_problem(col) if col is not None and table not in created else None
            if problem:
                out.append(f"{problem} (table {table})")
        elif op in CONSTRAINTS_ON_EXISTING:
            table = table if in_batch else arg(1)
            if table not in created:
                out.append(f"{op} {arg(0)} on existing table {table}")
        elif op == "create_index":
            table = table if in_batch else arg(1)
            if table in created:
                continue
            if _const(_kw(call, "unique")) is True:
                out.append(f"create_index {arg(0)}: unique index on existing table {table}")
            elif _const(_kw(call, "postgresql_concurrently")) is not True:
                out.append(f"create_index {arg(0)}: on existing table {table} without postgresql_concurrently=True")
    return out


def migrations() -> list[tuple[str, str]]:
    out = []
    for path in sorted(VERSIONS.glob("[0-9]*.py")):
        source = path.read_text()
        revision = next(_const(n.value) for n in ast.parse(source).body if isinstance(n, ast.Assign)
                        and any(isinstance(t, ast.Name) and t.id == "revision" for t in n.targets))
        out.append((str(revision), source))
    return out


def test_every_migration_is_expand_only() -> None:
    found = [(rev, f) for rev, source in migrations() for f in findings(source)]
    refused = [f"{rev}: {f}" for rev, f in found if (rev, f) not in ALLOWED]
    assert not refused, ("migrations must be expand-only while older replicas run (docs/operations.md, Upgrades); "
                         "ship drops and renames a release later and list them in ALLOWED:\n  " + "\n  ".join(refused))
    stale = set(ALLOWED) - set(found)
    assert not stale, f"ALLOWED entries that match nothing: {sorted(stale)}"


def test_the_migrations_are_found() -> None:
    assert [rev for rev, _ in migrations()][:3] == ["0001", "0002", "0003"]


_NEW_TABLE = '''
def upgrade():
    op.create_table("t", sa.Column("id", sa.Integer, nullable=False), sa.UniqueConstraint("id", name="uq"))
    op.create_index("ix_t", "t", ["id"], unique=True)
    op.add_column("incidents", sa.Column("note", sa.Text))
    op.add_column("incidents", sa.Column("n", sa.Integer, nullable=False, server_default="0"))
    op.alter_column("incidents", "note", server_default="")
    with op.get_context().autocommit_block():
        op.create_index("ix_i", "incidents", ["note"], postgresql_concurrently=True)

def downgrade():
    op.drop_index("ix_i", "incidents")
    op.drop_column("incidents", "n")
    op.drop_table("t")
'''


def test_the_check_allows_additions_and_ignores_downgrade() -> None:
    assert findings(_NEW_TABLE) == []


@pytest.mark.parametrize(("statement", "finding"), [
    ('op.drop_column("incidents", "note")', "drop_column incidents, note"),
    ('op.drop_table("alerts")', "drop_table alerts"),
    ('op.rename_table("alerts", "alert_episodes")', "rename_table alerts, alert_episodes"),
    ('op.alter_column("incidents", "note", new_column_name="notes")', "alter_column renames incidents.note"),
    ('op.alter_column("incidents", "note", nullable=False)', "alter_column makes NOT NULL incidents.note"),
    ('op.alter_column("incidents", "note", type_=sa.Integer)', "alter_column changes the type of incidents.note"),
    ('op.add_column("incidents", sa.Column("n", sa.Integer, nullable=False))',
     "add_column n: NOT NULL without server_default (table incidents)"),
    ('op.create_index("uq_x", "alerts", ["fingerprint"], unique=True)',
     "create_index uq_x: unique index on existing table alerts"),
    ('op.create_index("ix_x", "alerts", ["fingerprint"])',
     "create_index ix_x: on existing table alerts without postgresql_concurrently=True"),
    ('op.create_unique_constraint("uq_x", "alerts", ["fingerprint"])',
     "create_unique_constraint uq_x on existing table alerts"),
    ('op.execute("ALTER TABLE alerts DROP COLUMN x")', "execute: raw SQL"),
    ('with op.batch_alter_table("incidents") as b:\n        b.drop_column("note")', "drop_column note"),
    ('with op.batch_alter_table("incidents") as b:\n        b.alter_column("note", new_column_name="notes")',
     "alter_column renames incidents.note"),
])
def test_the_check_refuses_contracting_changes(statement: str, finding: str) -> None:
    assert findings(f"def upgrade():\n    {statement}\n") == [finding]
