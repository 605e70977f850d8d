"""PostgreSQL connection pools hold steady under a worker's usual load.

A pool smaller than the database calls in flight closes every connection opened beyond it as
soon as it is given back, so the next peak opens another: a new PostgreSQL server process,
its settings and its prepared statements each time. The API's sixteen requests in flight once
made about 30 such sessions a second.
"""

from __future__ import annotations

import threading

from sqlalchemy import bindparam, event, select, text

from careweave.store.database import READER_POOL, PointQuery, open_database
from careweave.store.schema import metadata
from careweave.store.tables import resource
from tests.conftest import fresh_postgres_schema

IN_FLIGHT = 16
READS_EACH = 150


def test_sixteen_readers_at_once_reuse_their_connections() -> None:
    with fresh_postgres_schema() as url:
        database = open_database(url)
        try:
            metadata.create_all(database.writer)
            opened: list[object] = []
            event.listen(database.reader, "connect", lambda conn, record: opened.append(conn))
            point = PointQuery(select(resource.c.id).where(resource.c.pk == bindparam("pk")))
            start = threading.Barrier(IN_FLIGHT)
            failures: list[BaseException] = []

            def read_many() -> None:
                try:
                    start.wait()
                    for pk in range(READS_EACH):
                        assert point.fetch_one(database, pk=pk) is None
                except BaseException as error:  # reported below, on the main thread
                    failures.append(error)

            threads = [threading.Thread(target=read_many) for _ in range(IN_FLIGHT)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert failures == []
            # Every connection opened is kept for the next request, none closed on its return.
            assert 1 <= len(opened) <= IN_FLIGHT <= READER_POOL[0]
            assert database.reader.pool.checkedin() == len(opened)  # type: ignore[attr-defined]
            with database.writer.connect() as conn:
                names = conn.execute(
                    text(
                        "SELECT application_name FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalars()
                assert "careweave-reader" in set(names)
        finally:
            database.dispose()
