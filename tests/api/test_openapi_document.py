"""GET /openapi.json: a valid OpenAPI document of every route the app registers, with schemas and examples."""

import pytest
from flask import Blueprint
from openapi_spec_validator import validate

from app import create_app, openapi
from app.errors import ProblemSchema


def make_app(tmp_path, **config):
    return create_app({"DATABASE_PATH": str(tmp_path / "cqrs.db"), **config})


@pytest.fixture
def document(client):
    return client.get("/openapi.json").get_json()


def operations(document):
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            yield path, method, op


def registered_routes(app) -> set[tuple[str, str]]:
    """Every (path, method) Flask routes, but static files (the app's and Swagger UI's assets)."""
    return {
        (openapi.path_of(rule)[0], method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint.rpartition(".")[2] != "static"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def test_the_document_is_valid_openapi(document):
    validate(document)
    assert document["openapi"] == "3.0.3"


def test_every_registered_route_appears_with_its_methods(app, document):
    documented = {(path, method) for path, method, _ in operations(document)}
    assert registered_routes(app) == documented


@pytest.mark.parametrize("role", ["command", "query"])
def test_each_role_describes_the_whole_service(tmp_path, role):
    """Behind one address (deploy/nginx.conf), whichever process serves the document describes
    what clients can call there: the commands and the queries."""
    whole = make_app(tmp_path / "all").test_client().get("/openapi.json").get_json()
    document = make_app(tmp_path, APP_ROLE=role).test_client().get("/openapi.json").get_json()
    assert document == whole


DESCRIBED = [
    (method, path)
    for module, one in (("items", "item_id"), ("employees", "employee_id"), ("users", "user_id"))
    for method, path in (
        ("get", f"/{module}"),
        ("post", f"/{module}"),
        ("get", f"/{module}/{{{one}}}"),
        ("put", f"/{module}/{{{one}}}"),
        ("delete", f"/{module}/{{{one}}}"),
    )
]


@pytest.mark.parametrize(("method", "path"), DESCRIBED)
def test_every_operation_on_items_employees_and_users_has_schemas_and_examples(document, method, path):
    op = document["paths"][path][method]
    success = next(status for status in op["responses"] if status.startswith("2"))
    reply = op["responses"][success]
    if method in ("post", "put"):
        body = op["requestBody"]["content"]["application/json"]
        assert body["schema"] and body["example"]
    if success == "204":
        assert "content" not in reply
    else:
        media = reply["content"]["application/json"]
        assert media["schema"] and media["example"]
    assert "default" not in op["responses"]


def test_the_apps_errors_are_problem_json_with_an_example(document):
    for name, response in document["components"]["responses"].items():
        if name in ("UriTooLong", "HeadersTooLarge"):
            continue  # refused by gunicorn before the app: its own HTML page
        problem = response["content"]["application/problem+json"]
        assert problem["schema"] == {"$ref": "#/components/schemas/Problem"}, name
        assert problem["example"]["status"] in range(400, 600), name


def test_commands_take_an_idempotency_key_and_writes_to_one_resource_take_if_match(document):
    item = document["paths"]["/items/{item_id}"]
    names = {method: [p.get("$ref", "").rsplit("/", 1)[-1] for p in item[method]["parameters"]] for method in item}
    assert {"Idempotency-Key", "If-Match"} <= set(names["put"]) and {"Idempotency-Key", "If-Match"} <= set(
        names["delete"]
    )
    assert "If-None-Match" in names["get"]
    assert set(item["get"]["responses"]) >= {"200", "304", "400", "404"}
    assert set(item["put"]["responses"]) >= {"200", "400", "404", "412", "413", "415", "422", "428"}


def test_a_created_resource_reply_describes_its_location_and_etag(document):
    created = document["paths"]["/users"]["post"]["responses"]["201"]
    assert {"Location", "ETag", "X-Request-ID", "Idempotent-Replayed"} <= set(created["headers"])
    assert "409" in document["paths"]["/users"]["post"]["responses"]


def test_the_price_is_an_optional_bounded_number(document):
    item = document["components"]["schemas"]["Item"]
    assert item["properties"]["price"]["type"] == "number"
    assert item["properties"]["price"]["maximum"] == 1000000
    assert "price" not in item["required"]


def test_limit_is_bounded_by_this_servers_page_size(tmp_path):
    document = make_app(tmp_path, PAGE_SIZE_MAX=50).test_client().get("/openapi.json").get_json()
    limit = next(p for p in document["paths"]["/items"]["get"]["parameters"] if p.get("name") == "limit")
    assert limit["schema"]["maximum"] == 50


def test_metrics_are_described_as_text(document):
    assert list(document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]) == ["text/plain"]


def test_a_route_without_a_description_still_appears_with_its_sides_errors(tmp_path):
    app = make_app(tmp_path)
    widgets = Blueprint("widgets", __name__)

    @widgets.post("/widgets/<uuid:widget_id>/polish")
    def polish(widget_id):
        """Polish a widget; 404 if unknown."""

    app.register_blueprint(widgets, name="commands.widgets")
    op = openapi.build(app)["paths"]["/widgets/{widget_id}/polish"]["post"]
    assert op["summary"] == "Polish a widget; 404 if unknown"
    assert {"default", "400", "401", "413", "415", "422", "503"} <= set(op["responses"])
    assert op["parameters"][0] == {
        "in": "path",
        "name": "widget_id",
        "required": True,
        "schema": {"type": "string", "format": "uuid", "example": openapi.SEED_ID},
    }


def test_the_history_route_names_its_modules_as_an_enum(document):
    module = document["paths"]["/{module}/{stream_id}/history"]["get"]["parameters"][0]
    assert module["name"] == "module"
    assert {"items", "employees", "users"} <= set(module["schema"]["enum"])


def test_the_document_needs_no_token_even_when_both_sides_have_tokens(tmp_path):
    client = make_app(tmp_path, COMMAND_TOKENS=("c",), QUERY_TOKENS=("q",)).test_client()
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs").status_code == 200


def test_the_servers_url_follows_a_proxys_prefix(tmp_path):
    client = make_app(tmp_path, PROXY_HOPS=1).test_client()
    document = client.get("/openapi.json", headers={"X-Forwarded-Prefix": "/api"}).get_json()
    assert document["servers"] == [{"url": "/api"}]
    assert client.get("/openapi.json").get_json()["servers"] == [{"url": "/"}]


def test_the_docs_page_loads_swagger_ui_from_this_server(client):
    page = client.get("/docs")
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "://" not in html  # no absolute URL: nothing comes from elsewhere
    for asset in ("swagger-ui.css", "swagger-ui-bundle.js"):
        assert f"/docs/assets/{asset}" in html
        assert client.get(f"/docs/assets/{asset}").status_code == 200


def test_an_error_status_no_other_route_answers_is_still_problem_json(tmp_path):
    app = make_app(tmp_path)
    gone = Blueprint("gone", __name__)

    @gone.get("/gone")
    @openapi.operation("Something gone", errors=(410,))
    def answer():
        """Never reached."""

    app.register_blueprint(gone)
    responses = openapi.build(app)["paths"]["/gone"]["get"]["responses"]
    assert responses["410"]["content"]["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}


def test_every_operation_lists_the_servers_refusals_of_overlong_requests(document):
    for path, method, op in operations(document):
        assert {"414", "431"} <= set(op["responses"]), f"{method} {path}"
        assert op["responses"]["414"] == {"$ref": "#/components/responses/UriTooLong"}


def test_a_route_may_say_its_body_is_optional(tmp_path):
    app = make_app(tmp_path)
    notes = Blueprint("notes", __name__)

    @notes.post("/notes/<uuid:note_id>/close")
    @openapi.operation("Close a note", body=ProblemSchema, body_required=False, if_match=True)
    def close(note_id):
        """Never reached."""

    app.register_blueprint(notes, name="commands.notes")
    op = openapi.build(app)["paths"]["/notes/{note_id}/close"]["post"]
    assert op["requestBody"]["required"] is False
    assert {"412", "428"} <= set(op["responses"])
