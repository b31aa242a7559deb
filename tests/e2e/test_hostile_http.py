"""Hostile requests over real sockets, to a real gunicorn: what the test client cannot stand in for."""

import requests

from tests.e2e.conftest import running_gunicorn
from tests.support import BACON_ID


def test_a_chunked_body_over_the_size_limit_answers_413_over_real_gunicorn(tmp_path):
    body = b'{"name": "Eggs", "description": "' + b"y" * 4000 + b'"}'
    with running_gunicorn(tmp_path, workers=1, MAX_BODY_BYTES=1000) as server:
        # A generator makes requests send the body chunked, with no Content-Length.
        response = requests.post(
            server("/items"), data=iter([body[:2000], body[2000:]]), headers={"Content-Type": "application/json"}, timeout=30
        )
        assert response.status_code == 413
        assert response.headers["Content-Type"] == "application/problem+json"
        assert requests.get(server("/items"), timeout=30).json() == [{"id": BACON_ID, "name": "Bacon"}]
