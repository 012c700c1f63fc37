from __future__ import annotations

import pytest

from tests.e2e.conftest import fresh_database  # noqa: F401  (SQLite and PostgreSQL backends)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--soak",
        action="store_true",
        default=False,
        help="also run the long soak (tests/reliability/test_soak.py; EVENT_GATEWAY_SOAK_SECONDS, default 600)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--soak", default=False):
        return
    skip = pytest.mark.skip(reason="run with --soak")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)
