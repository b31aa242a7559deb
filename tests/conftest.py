import pytest

from app import create_app
from app.db import dispose


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
