"""A live server for the API description's tests: real gunicorn (tests/e2e), one per test module."""

import pytest

from tests.e2e.conftest import running_gunicorn


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    # A generated Min-Log-Position is mostly one the log never reaches: its 503 comes in a tenth
    # of a second instead of the default two (the fuzzer sends thousands of requests).
    with running_gunicorn(tmp_path_factory.mktemp("live"), READ_WAIT_MS="100") as server:
        yield server
