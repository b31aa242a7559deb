import pathlib

import pytest
from hypothesis import HealthCheck, settings

from app import create_app
from app.db import dispose

# How fast the machine is says nothing of the code: no example fails for taking long, nor a
# test for making its examples slowly (a shared, loaded CI machine does both now and then).
settings.register_profile("any_speed", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("any_speed")

TESTS = pathlib.Path(__file__).resolve().parent
# The kind of each test, by where it lives (the first match wins); anything else is a unit test.
KINDS = {
    "api/test_docs_page.py": "browser",
    "api/test_fuzzing.py": "e2e",
    "api": "http",
    "e2e": "e2e",
    "http": "http",
    "integration": "integration",
    "property": "property",
}


def pytest_collection_modifyitems(items):
    """Mark each test with its kind, so that `pytest -m` picks tests by kind (`make test-fast`)."""
    for item in items:
        where = pathlib.Path(item.path).relative_to(TESTS).as_posix()
        kind = next((kind for place, kind in KINDS.items() if where == place or where.startswith(place + "/")), "unit")
        item.add_marker(kind)


@pytest.fixture
def app(tmp_path):
    """A fresh app on its own new SQLite file, seeded by migrations.sql."""
    app = create_app({"DATABASE_PATH": str(tmp_path / "cqrs.db"), "LOG_FORMAT": "json"})
    yield app
    with app.app_context():
        dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()
