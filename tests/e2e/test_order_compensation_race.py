"""Two gunicorn workers both run the process manager after their commands: deleting users on
both at once still cancels each placed order exactly once, each naming its user's UserDeleted."""

from concurrent.futures import ThreadPoolExecutor
from contextlib import closing

import requests

USERS = 8


def post(gunicorn, path: str, body: dict | None = None) -> dict:
    response = requests.post(gunicorn(path), json=body, timeout=30)
    assert response.status_code in (200, 201), response.text
    return response.json()


def test_concurrent_deletions_on_two_workers_cancel_each_placed_order_exactly_once(gunicorn):
    item = post(gunicorn, "/items", {"name": "Eggs", "description": "", "price": 0.1})
    users, placed, shipped = [], [], []
    for n in range(USERS):
        user = post(gunicorn, "/users", {"first_name": "Ada", "last_name": f"No {n}", "email": f"u{n}@example.com"})
        orders = [
            post(gunicorn, "/orders", {"user_id": user["id"], "lines": [{"item_id": item["id"], "quantity": q}]})
            for q in (1, 2, 3)
        ]
        post(gunicorn, f"/orders/{orders[0]['id']}/ship")
        users.append(user["id"])
        shipped.append(orders[0]["id"])
        placed += [orders[1]["id"], orders[2]["id"]]

    def delete_or_create(n: int) -> int:
        if n < USERS:
            return requests.delete(gunicorn(f"/users/{users[n]}"), timeout=30).status_code
        body = {"name": f"Filler {n}", "description": ""}
        return requests.post(gunicorn("/items"), json=body, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(delete_or_create, range(4 * USERS)))
    assert statuses == [204] * USERS + [201] * (3 * USERS)

    with closing(gunicorn.connect()) as db:
        deleted = dict(db.execute("SELECT stream_id, event_id FROM events WHERE type = 'UserDeleted'").fetchall())
        owner = dict(db.execute("SELECT id, user_id FROM orders").fetchall())
        cancelled = db.execute("SELECT stream_id, causation_id FROM events WHERE type = 'OrderCancelled'").fetchall()
    assert sorted(order for order, _ in cancelled) == sorted(placed)
    assert all(cause == deleted[owner[order]] for order, cause in cancelled)
    assert requests.get(gunicorn("/orders?status=placed"), timeout=30).json() == []
    assert {o["id"] for o in requests.get(gunicorn("/orders?status=shipped"), timeout=30).json()} == set(shipped)
    log = gunicorn.log_text()
    assert "Traceback" not in log and "database is locked" not in log
