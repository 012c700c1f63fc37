from tests.e2e.conftest import fresh_database  # noqa: F401  (SQLite and PostgreSQL backends)
