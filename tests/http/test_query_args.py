"""The query-string schemas of app/contract.py: a bare URL gets what a load of nothing gives."""

from app.contract import _defaults


def test_a_bare_url_gets_exactly_what_its_schema_loads_from_nothing(app):
    schemas = {
        endpoint: view.openapi.query()
        for endpoint, view in app.view_functions.items()
        if getattr(view, "openapi", None) and view.openapi.query
    }
    assert len(schemas) >= 10
    with app.test_request_context("/"):
        for endpoint, schema in schemas.items():
            if not any(field.required for field in schema.load_fields.values()):
                assert _defaults(schema) == schema.load({}), endpoint
