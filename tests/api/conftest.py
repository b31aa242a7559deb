"""A live server for the API description's tests: real gunicorn (tests/e2e), one per test module."""

import pytest

from tests.e2e.conftest import running_gunicorn


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    with running_gunicorn(tmp_path_factory.mktemp("live")) as server:
        yield server
