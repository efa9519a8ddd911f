"""A throwaway PostgreSQL database for the ingest benchmark, on the local server."""

import contextlib
import os

SERVER = "postgres://postgres@127.0.0.1:5432"


@contextlib.contextmanager
def bench_database():
    """Yield the URL of a fresh database (created now, dropped after), or None if unreachable."""
    import psycopg

    name = f"herokucd_bench_{os.getpid()}"
    try:
        admin = psycopg.connect(f"{SERVER}/postgres", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        yield None
        return
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{SERVER}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
