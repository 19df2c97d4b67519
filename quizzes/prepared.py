"""Prepared statements for the quiz's hottest SQL, planned once per PostgreSQL connection.

At the end of a quiz every open taking page saves answers and polls their versions
every few seconds. Django's ORM (with psycopg2) sends each query as text, and
PostgreSQL plans it again every time: for the poll's six-table join, planning took
3.4 ms of the server's CPU against 0.1 ms to run it (measured with
pg_stat_statements during bench/quiz_rush.py). A prepared statement is planned on
its first executions and then runs on its generic plan, so the statements written
here must be ones whose generic plan is good whatever the parameters: each reaches
its rows by primary key or a unique index.

A prepared statement lives as long as the connection (a rollback does not remove
it), so what was prepared is kept per raw connection: a reconnect prepares again.
On other databases (SQLite in development and tests) the SQL simply runs.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection


def numbered(sql: str) -> str:
    """The %s placeholders of `sql` as PostgreSQL's $1, $2, … (the SQL must hold no other %)."""
    parts = sql.split("%s")
    return parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], start=1))


def execute(cursor, *, name: str, sql: str, types: Sequence[str], params: Sequence) -> None:
    """Run `sql` (with %s placeholders) with `params`: on PostgreSQL as the prepared statement `name`.

    `types` are the PostgreSQL types of the placeholders, in order; `name` must be
    unique to this SQL text within the process.
    """
    if connection.vendor != "postgresql":
        cursor.execute(sql, params)
        return
    raw = connection.connection
    mark = getattr(connection, "_quizzes_prepared", None)
    if mark is None or mark[0] is not raw:
        mark = (raw, set[str]())
        setattr(connection, "_quizzes_prepared", mark)  # noqa: B010 (per connection, not a Django attribute)
    if name not in mark[1]:
        cursor.execute(f"PREPARE {name} ({', '.join(types)}) AS {numbered(sql)}")
        mark[1].add(name)
    call = _CALLS.get(name) or _CALLS.setdefault(name, f"EXECUTE {name} ({', '.join(['%s'] * len(types))})")
    cursor.execute(call, params)


_CALLS: dict[str, str] = {}  # the EXECUTE text of each statement, built once per process
