"""A live server for the API description's tests: real gunicorn (tests/e2e), one per test module."""

import pytest

from tests.e2e.conftest import running_gunicorn

# A generated Min-Log-Position is mostly one the log never reaches, and a generated wait on the
# feed one that no event ends: here they answer at once instead of after two and thirty
# seconds (the fuzzer sends thousands of requests; tests/http test the waits themselves).
LIVE_SETTINGS = {"READ_WAIT_MS": 0, "FEED_MAX_WAIT_SECONDS": 0}


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    with running_gunicorn(tmp_path_factory.mktemp("live"), **{k: str(v) for k, v in LIVE_SETTINGS.items()}) as server:
        yield server
