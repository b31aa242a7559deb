import pathlib

import pytest
from hypothesis import HealthCheck, settings
from werkzeug.routing import Rule

from app import create_app
from app.db import dispose
from tests.engines import (
    ENGINE,
    ENGINES,
    close_every_app,
    database_config,
    drop_databases_of_removed_directories,
    stop_server,
)

# How fast the machine is says nothing of the code: no example fails for taking long, nor a
# test for making its examples slowly (a shared, loaded CI machine does both now and then).
settings.register_profile("any_speed", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("any_speed")

TESTS = pathlib.Path(__file__).resolve().parent

# Nearly every test makes an app, and werkzeug compiles each route's URL builders from an AST
# as the app registers it: about half of making an app. A builder is a plain function of the
# rule it is bound to, the same for the same rule text, defaults and converters: compile each
# once per test process. (A deployment makes its app once: this is for the tests alone.)
_builders: dict = {}
_compile_builder = Rule._compile_builder


def _compile_builder_once(rule: Rule, append_unknown: bool = True):
    converters = tuple((name, type(converter)) for name, converter in rule._converters.items())
    key = (rule.rule, rule.subdomain, rule.host, repr(rule.defaults), converters, append_unknown)
    if key not in _builders:
        _builders[key] = _compile_builder(rule, append_unknown)
    return _builders[key]


Rule._compile_builder = _compile_builder_once
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


def pytest_collection_modifyitems(config, items):
    """Mark each test with its kind, so that `pytest -m` picks tests by kind (`make test-fast`);
    leave out the tests of the other engine (marked `sqlite` or `postgresql`: only there)."""
    other = [engine for engine in ENGINES if engine != ENGINE]
    kept, left_out = [], []
    for item in items:
        where = pathlib.Path(item.path).relative_to(TESTS).as_posix()
        kind = next((kind for place, kind in KINDS.items() if where == place or where.startswith(place + "/")), "unit")
        item.add_marker(kind)
        (left_out if any(item.get_closest_marker(engine) for engine in other) else kept).append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept


def pytest_unconfigure(config):
    stop_server()


@pytest.fixture(autouse=True)
def _closed_connections():
    yield
    close_every_app()
    drop_databases_of_removed_directories()  # those of a passing test's tmp_path, gone by now


@pytest.fixture
def app(tmp_path):
    """A fresh app on its own new database (of the engine under test), seeded by the migrations."""
    app = create_app({**database_config(tmp_path), "LOG_FORMAT": "json"})
    yield app
    with app.app_context():
        dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()
