"""/projections, /readyz and /metrics."""

import pytest

from app.projections import ALL, item_list
from tests.support import create_item, make_app, projector_stopped


@pytest.fixture
def broken_item_list(monkeypatch):
    def fail(tx, event):
        raise ValueError("bad data")

    monkeypatch.setitem(item_list.projection.handlers, "ItemCreated", fail)


def by_name(client) -> dict:
    return {s["name"]: s for s in client.get("/projections").get_json()}


def test_every_projection_reports_live_at_the_head(client):
    statuses = by_name(client)
    assert set(statuses) == {p.name for p in ALL}
    for status in statuses.values():
        assert status["state"] == "live"
        assert status["lag"] == 0 and status["checkpoint"] == status["head"] > 0
        assert status["last_error"] is None


def test_a_failing_projection_reports_its_error_position_and_retries(client, broken_item_list):
    create_item(client)
    status = by_name(client)["item_list"]
    assert status["state"] == "failing"
    assert status["lag"] == 1
    error = status["last_error"]
    assert (error["type"], error["message"], error["position"], error["retries"]) == ("ValueError", "bad data", status["head"], 1)
    assert "Traceback" not in str(error)
    assert by_name(client)["item_details"]["state"] == "live"


def test_a_projection_behind_the_head_reports_catching_up(app, client, monkeypatch):
    projector_stopped(app, monkeypatch)
    create_item(client)
    status = by_name(client)["item_list"]
    assert (status["state"], status["lag"]) == ("catching_up", 1)


def test_ready_when_live_and_not_ready_when_a_projection_fails(client, broken_item_list):
    assert client.get("/readyz").get_json() == {"status": "ready"}
    create_item(client)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "item_list is failing" in response.get_json()["reasons"][0]


def test_readiness_can_ignore_failing_projections(tmp_path, broken_item_list):
    client = make_app(tmp_path, READY_DESPITE_FAILING=True).test_client()
    create_item(client)
    assert client.get("/readyz").status_code == 200


def test_not_ready_while_the_read_model_lags_too_far(tmp_path, monkeypatch):
    app = make_app(tmp_path, READY_MAX_LAG=1)
    projector_stopped(app, monkeypatch)
    client = app.test_client()
    create_item(client)
    assert client.get("/readyz").status_code == 200
    create_item(client)
    assert client.get("/readyz").status_code == 503


def test_metrics_count_requests_commands_events_and_report_projection_lag(client, broken_item_list):
    create_item(client)
    client.post("/items", json={"name": ""})
    text = client.get("/metrics").get_data(as_text=True)
    assert 'http_requests_total{method="POST",route="/items",status="201"}' in text
    assert 'commands_total{command="CreateItem",outcome="ok"}' in text
    assert 'events_appended_total{type="ItemCreated"}' in text
    assert 'http_request_duration_seconds_bucket{le="0.005",route="/items"}' in text
    assert 'projection_lag_events{projection="item_list"} 1.0' in text
    assert 'projection_failures{projection="item_list"} 1.0' in text
    assert 'projection_lag_events{projection="item_details"} 0.0' in text


def test_metrics_count_requests_no_route_matched_under_one_label(client):
    def unmatched() -> float:
        name = 'http_requests_total{method="GET",route="unmatched",status="404"} '
        lines = client.get("/metrics").get_data(as_text=True).splitlines()
        return next((float(line.removeprefix(name)) for line in lines if line.startswith(name)), 0.0)

    before = unmatched()
    client.get("/nowhere/at/all")
    client.get("/nowhere/else")
    assert unmatched() == before + 2
