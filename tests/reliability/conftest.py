from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import fresh_database  # noqa: F401  (SQLite and PostgreSQL backends)
from tests.e2e.harness import cli
from tests.reliability.figures import FIGURES_ENV, record


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


# Figures for the modules whose tests share one gateway (test_hostile.py, test_fuzz.py):
# their tests assert per case; this adds up, per module, how the cases went and what
# the server itself counted (its /metrics) and stored, just before that gateway stops.
SHARED_GATEWAY_FIXTURES = {"test_hostile": "target", "test_fuzz": "fuzz_target"}
_outcomes: dict[str, Counter[str]] = defaultdict(Counter)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    module = report.nodeid.split("::", 1)[0].rsplit("/", 1)[-1].removesuffix(".py")
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _outcomes[module][report.outcome] += 1


def _metric_sums(text: str) -> tuple[Counter[str], Counter[str]]:
    """gateway requests_total summed by outcome, events_total summed by outcome."""
    requests: Counter[str] = Counter()
    events: Counter[str] = Counter()
    for line in text.splitlines():
        if line.startswith("#") or "{" not in line:
            continue
        name, rest = line.split("{", 1)
        labels, value = rest.rsplit("}", 1)
        outcome = next((part.split("=", 1)[1].strip('"') for part in labels.split(",") if part.startswith("outcome=")), "")
        if name.endswith("_requests_total"):
            requests[outcome] += int(float(value))
        elif name.endswith("_events_total"):
            events[outcome] += int(float(value))
    return requests, events


@pytest.fixture(scope="module", autouse=True)
def _shared_gateway_figures(request: pytest.FixtureRequest) -> Iterator[None]:
    module = request.module.__name__.rsplit(".", 1)[-1]
    fixture = SHARED_GATEWAY_FIXTURES.get(module)
    if fixture is None or not os.environ.get(FIGURES_ENV):
        yield
        return
    before = Counter(_outcomes[module])
    gateway, _key = request.getfixturevalue(fixture)  # torn down after this fixture
    yield
    outcomes = _outcomes[module] - before
    text = httpx.get(f"{gateway.base_url}/metrics", timeout=30).text
    calls, events = _metric_sums(text)
    stored = int(cli(gateway.database, "events", "count").stdout.strip())
    server_errors = calls["INTERNAL"] + calls["UNKNOWN"] + calls["DATA_LOSS"]
    record(
        module.removeprefix("test_"),
        backend="sqlite",
        cases=sum(outcomes.values()),
        cases_passed=outcomes["passed"],
        cases_failed=outcomes["failed"],
        requests=None,  # sent by the tests themselves, not counted here (each case sends at least one)
        calls_reaching_api=sum(calls.values()),
        acknowledged_requests=calls["OK"],
        refused=calls["UNAVAILABLE"] + calls["RESOURCE_EXHAUSTED"],
        server_errors=server_errors,
        calls_by_code=dict(calls),
        events_acknowledged=events["stored"],
        events_stored=stored,
        lost=max(0, events["stored"] - stored),
        duplicates=max(0, stored - events["stored"]),
    )
