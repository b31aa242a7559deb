"""Invariant 4: whatever commands ran, the read model rebuilt from the log equals the live one.

Random command sequences (valid and invalid) run over HTTP; afterwards the live read
model must match a model the test kept itself, and a rebuild from the event log must
reproduce the live read tables row for row, seed data included.
"""

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import create_app
from tests.support import BACON_ID, read_model

names = st.one_of(st.text(max_size=12), st.sampled_from(["Apple", "apple", " Bacon ", "Ä", "🥓", ""]))
descriptions = st.text(max_size=20)
prices = st.one_of(st.none(), st.decimals(min_value=0, max_value=1000, places=2), st.just(-1))
target = st.integers(min_value=0, max_value=30)  # which known id a command aims at

commands = st.lists(
    st.one_of(
        st.tuples(st.just("create"), names, descriptions, prices),
        st.tuples(st.just("update"), target, names, descriptions, prices),
        st.tuples(st.just("delete"), target),
    ),
    max_size=20,
)


def body(name, description, price) -> dict:
    fields = {"name": name, "description": description}
    if price is not None:
        fields["price"] = float(price) if isinstance(price, Decimal) else price
    return fields


def is_valid(name, price) -> bool:
    return 1 <= len(name.strip()) <= 200 and (price is None or price >= 0)


def expected_item(item_id, name, description, price) -> dict:
    item = {"id": item_id, "name": name.strip(), "description": description}
    if price is not None:
        item["price"] = float(price)
    return item


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(commands)
def test_rebuilding_the_read_model_from_the_log_equals_the_live_one(tmp_path_factory, commands):
    app = create_app({"DATABASE_PATH": str(tmp_path_factory.mktemp("prop") / "cqrs.db")})
    client = app.test_client()
    ids = [BACON_ID]
    model = {BACON_ID: {"id": BACON_ID, "name": "Bacon", "description": "Everything tastes better, with bacon 🥓"}}

    for command in commands:
        if command[0] == "create":
            _, name, description, price = command
            response = client.post("/items", json=body(name, description, price))
            if not is_valid(name, price):
                assert response.status_code == 400
                continue
            assert response.status_code == 201
            item_id = response.get_json()["id"]
            ids.append(item_id)
            model[item_id] = expected_item(item_id, name, description, price)
        elif command[0] == "update":
            _, n, name, description, price = command
            item_id = ids[n % len(ids)]
            response = client.put(f"/items/{item_id}", json=body(name, description, price))
            if not is_valid(name, price):
                assert response.status_code == 400
            elif item_id not in model:
                assert response.status_code == 404
            else:
                assert response.status_code == 200
                model[item_id] = expected_item(item_id, name, description, price)
        else:
            item_id = ids[command[1] % len(ids)]
            response = client.delete(f"/items/{item_id}")
            assert response.status_code == (204 if model.pop(item_id, None) else 404)

    listed = client.get("/items?limit=1000").get_json()
    assert listed == sorted(({"id": i["id"], "name": i["name"]} for i in model.values()), key=lambda i: (i["name"], i["id"]))
    for item_id, item in model.items():
        assert client.get(f"/items/{item_id}").get_json() == item

    live = read_model(app)
    with app.app_context():
        app.extensions["projector"].rebuild()
    assert read_model(app) == live
