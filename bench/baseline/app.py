"""The plain CRUD baseline: the product's routes and JSON shapes for items, employees,
users, orders and devices, written the way a competent developer would in an afternoon
without CQRS.

sqlite3 on normalized tables (schema.sql), one connection per thread kept open, WAL on;
lists join and ORDER BY at query time and paginate with OFFSET/LIMIT (the Link header
carries ``offset``); an order's totals and a device's statistics are added up at query
time. Writes are single INSERT/UPDATE/DELETE statements (a telemetry batch: one executemany).
"""

import json
import math
import os
import re
import sqlite3
import threading
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from flask import Flask, Response, abort, jsonify, request

app = Flask(__name__)
app.json.sort_keys = False
app.json.ensure_ascii = False

DATABASE = os.environ.get("BASELINE_DATABASE", "baseline.db")
PAGE_DEFAULT, PAGE_MAX = 100, 1000
_local = threading.local()


def db() -> sqlite3.Connection:
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = sqlite3.connect(DATABASE, timeout=10, isolation_level=None)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.row_factory = sqlite3.Row
        _local.conn = conn
    return conn


def problem(status: int, detail: str, **extra):
    body = {"type": "about:blank", "status": status, "detail": detail, **extra}
    return Response(json.dumps(body), status, mimetype="application/problem+json")


def page_args() -> tuple[int, int]:
    try:
        limit = int(request.args.get("limit", PAGE_DEFAULT))
        offset = int(request.args.get("offset", 0))
    except ValueError:
        abort(problem(400, "bad limit or offset"))
    if not 1 <= limit <= PAGE_MAX or offset < 0:
        abort(problem(400, "bad limit or offset"))
    return limit, offset


def page_response(rows: list[dict], limit: int, offset: int) -> Response:
    response = jsonify(rows[:limit])
    if len(rows) > limit:
        args = [(k, v) for k, v in request.args.items(multi=True) if k not in ("limit", "offset")]
        args += [("limit", limit), ("offset", offset + limit)]
        response.headers["Link"] = f'<{request.base_url}?{urlencode(args)}>; rel="next"'
    return response


def body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        abort(problem(400, "The body must be a JSON object."))
    return data


def text_field(data: dict, name: str, errors: dict, low: int, high: int, trim: bool = True):
    value = data.get(name)
    if not isinstance(value, str):
        errors[name] = ["Missing or not a string."]
        return None
    value = value.strip() if trim else value
    if not low <= len(value) <= high:
        errors[name] = [f"Length must be between {low} and {high}."]
    return value


def check_uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        abort(problem(400, "not a UUID"))


def money(cents: int):
    """Cents as the JSON number the product sends: 4.25, or 4 when whole."""
    return cents // 100 if cents % 100 == 0 else cents / 100


# ---------------------------------------------------------------- items


def item_json(row) -> dict:
    item = {"id": row["id"], "name": row["name"], "description": row["description"]}
    if row["price_cents"] is not None:
        item["price"] = money(row["price_cents"])
    return item


def item_fields() -> tuple:
    data, errors = body(), {}
    name = text_field(data, "name", errors, 1, 200)
    description = text_field(data, "description", errors, 0, 2000, trim=False)
    price = data.get("price")
    if price is not None and (isinstance(price, bool) or not isinstance(price, int | float) or not 0 <= price <= 1e6):
        errors["price"] = ["Must be a number from 0 to 1000000."]
    if errors:
        abort(problem(400, "Validation failed", errors=errors))
    return name, description, None if price is None else round(price * 100)


@app.get("/items")
def items_index():
    limit, offset = page_args()
    rows = db().execute("SELECT id, name FROM items ORDER BY name, id LIMIT ? OFFSET ?", (limit + 1, offset)).fetchall()
    return page_response([dict(row) for row in rows], limit, offset)


@app.get("/items/<item_id>")
def items_show(item_id: str):
    row = db().execute("SELECT * FROM items WHERE id = ?", (check_uuid(item_id),)).fetchone()
    if row is None:
        return problem(404, "no such item")
    return jsonify(item_json(row))


@app.post("/items")
def items_create():
    name, description, cents = item_fields()
    item_id = str(uuid.uuid4())
    with db():
        db().execute("BEGIN IMMEDIATE")
        db().execute("INSERT INTO items VALUES (?, ?, ?, ?)", (item_id, name, description, cents))
    row = {"id": item_id, "name": name, "description": description, "price_cents": cents}
    return item_json(row), 201, {"Location": f"{request.base_url}/{item_id}"}


@app.put("/items/<item_id>")
def items_update(item_id: str):
    item_id = check_uuid(item_id)
    name, description, cents = item_fields()
    with db():
        db().execute("BEGIN IMMEDIATE")
        changed = (
            db()
            .execute(
                "UPDATE items SET name = ?, description = ?, price_cents = ? WHERE id = ?",
                (name, description, cents, item_id),
            )
            .rowcount
        )
    if not changed:
        return problem(404, "no such item")
    return item_json({"id": item_id, "name": name, "description": description, "price_cents": cents})


@app.delete("/items/<item_id>")
def items_delete(item_id: str):
    with db():
        db().execute("BEGIN IMMEDIATE")
        deleted = db().execute("DELETE FROM items WHERE id = ?", (check_uuid(item_id),)).rowcount
    return ("", 204) if deleted else problem(404, "no such item")


# ---------------------------------------------------------------- employees

_EMPLOYEE_LIST = (
    "SELECT e.id, e.last_name || ', ' || e.first_name AS name, a.city"
    " FROM employees e JOIN addresses a ON a.id = e.id {where}"
    " ORDER BY name, e.id LIMIT ? OFFSET ?"
)


def employee_json(row) -> dict:
    return {
        "id": row["id"],
        "firstName": row["first_name"],
        "lastName": row["last_name"],
        "address": {"id": row["id"], "street": row["street"], "zip": row["zip"], "city": row["city"]},
    }


def employee_fields() -> tuple:
    data, errors = body(), {}
    first = text_field(data, "firstName", errors, 1, 100)
    last = text_field(data, "lastName", errors, 1, 100)
    address = data.get("address") if isinstance(data.get("address"), dict) else {}
    street = text_field(address, "street", errors, 1, 50)
    zip_code = text_field(address, "zip", errors, 1, 10)
    city = text_field(address, "city", errors, 1, 50)
    if errors:
        abort(problem(400, "Validation failed", errors=errors))
    return first, last, street, zip_code, city


@app.get("/employees")
def employees_index():
    limit, offset = page_args()
    city = request.args.get("city")
    where, params = ("WHERE a.city = ?", [city]) if city is not None else ("", [])
    rows = db().execute(_EMPLOYEE_LIST.format(where=where), (*params, limit + 1, offset)).fetchall()
    return page_response([dict(row) for row in rows], limit, offset)


@app.get("/employees/<employee_id>")
def employees_show(employee_id: str):
    row = (
        db()
        .execute(
            "SELECT e.id, e.first_name, e.last_name, a.street, a.zip, a.city"
            " FROM employees e JOIN addresses a ON a.id = e.id WHERE e.id = ?",
            (check_uuid(employee_id),),
        )
        .fetchone()
    )
    if row is None:
        return problem(404, "no such employee")
    return jsonify(employee_json(row))


@app.post("/employees")
def employees_create():
    first, last, street, zip_code, city = employee_fields()
    employee_id = str(uuid.uuid4())
    with db():
        db().execute("BEGIN IMMEDIATE")
        db().execute("INSERT INTO employees VALUES (?, ?, ?)", (employee_id, first, last))
        db().execute("INSERT INTO addresses VALUES (?, ?, ?, ?)", (employee_id, street, zip_code, city))
    row = {"id": employee_id, "first_name": first, "last_name": last, "street": street, "zip": zip_code, "city": city}
    return employee_json(row), 201, {"Location": f"{request.base_url}/{employee_id}"}


@app.delete("/employees/<employee_id>")
def employees_delete(employee_id: str):
    with db():
        db().execute("BEGIN IMMEDIATE")
        deleted = db().execute("DELETE FROM employees WHERE id = ?", (check_uuid(employee_id),)).rowcount
    return ("", 204) if deleted else problem(404, "no such employee")


# ---------------------------------------------------------------- users

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@app.get("/users")
def users_index():
    limit, offset = page_args()
    email = request.args.get("email")
    where, params = ("WHERE lower(email) = lower(?)", [email]) if email is not None else ("", [])
    rows = (
        db()
        .execute(
            f"SELECT id, first_name, last_name, email FROM users {where}"
            " ORDER BY last_name, first_name, id LIMIT ? OFFSET ?",
            (*params, limit + 1, offset),
        )
        .fetchall()
    )
    return page_response([dict(row) for row in rows], limit, offset)


@app.get("/users/<user_id>")
def users_show(user_id: str):
    row = (
        db()
        .execute("SELECT id, first_name, last_name, email FROM users WHERE id = ?", (check_uuid(user_id),))
        .fetchone()
    )
    if row is None:
        return problem(404, "no such user")
    return jsonify(dict(row))


@app.post("/users")
def users_create():
    data, errors = body(), {}
    first = text_field(data, "first_name", errors, 1, 100)
    last = text_field(data, "last_name", errors, 1, 100)
    email = text_field(data, "email", errors, 3, 254, trim=False)
    if email and not _EMAIL.match(email):
        errors["email"] = ["Not a valid email address."]
    if errors:
        return problem(400, "Validation failed", errors=errors)
    user_id = str(uuid.uuid4())
    try:
        with db():
            db().execute("BEGIN IMMEDIATE")
            db().execute("INSERT INTO users VALUES (?, ?, ?, ?)", (user_id, first, last, email))
    except sqlite3.IntegrityError:
        return problem(409, "email taken", errors={"email": ["Another user already has this email address."]})
    user = {"id": user_id, "first_name": first, "last_name": last, "email": email}
    return user, 201, {"Location": f"{request.base_url}/{user_id}"}


# ---------------------------------------------------------------- orders


@app.get("/users/<user_id>/orders")
def users_orders(user_id: str):
    user_id, conn = check_uuid(user_id), db()
    limit, offset = page_args()
    if conn.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone() is None:
        return problem(404, "no such user")
    rows = conn.execute(
        "SELECT o.id, o.status, o.placed_at, sum(l.quantity) AS item_count,"
        " sum(l.quantity * l.unit_price_cents) AS total_cents"
        " FROM orders o JOIN order_lines l ON l.order_id = o.id WHERE o.user_id = ?"
        " GROUP BY o.id ORDER BY o.placed_at DESC, o.id DESC LIMIT ? OFFSET ?",
        (user_id, limit + 1, offset),
    )
    orders = [
        {
            "id": row["id"],
            "status": row["status"],
            "placed_at": row["placed_at"],
            "item_count": row["item_count"],
            "total": money(row["total_cents"]),
        }
        for row in rows
    ]
    return page_response(orders, limit, offset)


@app.get("/orders/<order_id>")
def orders_show(order_id: str):
    conn = db()
    order = conn.execute(
        "SELECT o.*, u.first_name, u.last_name, u.email FROM orders o LEFT JOIN users u ON u.id = o.user_id"
        " WHERE o.id = ?",
        (check_uuid(order_id),),
    ).fetchone()
    if order is None:
        return problem(404, "no such order")
    lines = conn.execute(
        "SELECT item_id, name, quantity, unit_price_cents FROM order_lines WHERE order_id = ? ORDER BY line_no",
        (order["id"],),
    ).fetchall()
    known = order["first_name"] is not None  # a deleted user's orders show their id only
    body = {
        "id": order["id"],
        "status": order["status"],
        "placed_at": order["placed_at"],
        "user": {
            "id": order["user_id"],
            "name": f"{order['first_name']} {order['last_name']}" if known else None,
            "email": order["email"],
        },
        "lines": [
            {
                "item_id": line["item_id"],
                "name": line["name"],
                "quantity": line["quantity"],
                "unit_price": money(line["unit_price_cents"]),
                "line_total": money(line["quantity"] * line["unit_price_cents"]),
            }
            for line in lines
        ],
        "total": money(sum(line["quantity"] * line["unit_price_cents"] for line in lines)),
    }
    for name in ("shipped_at", "cancelled_at", "cancellation_reason"):
        if order[name] is not None:
            body[name] = order[name]
    return jsonify(body), {"ETag": f'"{order["version"]}"'}


# ---------------------------------------------------------------- devices

_METRIC = re.compile(r"^[a-z0-9_.]{1,50}$")
_MAX_FUTURE = timedelta(minutes=5)


def reading_row(device_id: str, reading, now: datetime) -> tuple | None:
    """``(device_id, metric, value, recorded_at in UTC)`` of a reading as sent; None if it is invalid."""
    if not isinstance(reading, dict) or not reading.keys() <= {"metric", "value", "recorded_at"}:
        return None
    metric, value = reading.get("metric"), reading.get("value")
    if not isinstance(metric, str) or not _METRIC.match(metric):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    try:
        at = datetime.fromisoformat(reading["recorded_at"]) if "recorded_at" in reading else now
    except (TypeError, ValueError):
        return None
    if at.tzinfo is None or at > now + _MAX_FUTURE:
        return None
    return device_id, metric, float(value), at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@app.post("/devices/<device_id>/telemetry")
def devices_telemetry(device_id: str):
    device_id, data, now, conn = check_uuid(device_id), body(), datetime.now(UTC), db()
    batch = data.get("readings", [data])
    if not isinstance(batch, list) or not 1 <= len(batch) <= 1000:
        return problem(400, "readings: 1 to 1000 of them")
    rows = [reading_row(device_id, reading, now) for reading in batch]
    if None in rows:
        return problem(400, "Validation failed", errors={f"readings.{rows.index(None)}": ["Invalid reading."]})
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        device = conn.execute("SELECT status FROM devices WHERE id = ?", (device_id,)).fetchone()
        if device is None or device["status"] != "active":
            abort(problem(404, "no such device") if device is None else problem(409, "decommissioned"))
        conn.executemany("INSERT INTO readings (device_id, metric, value, recorded_at) VALUES (?, ?, ?, ?)", rows)
    return {"accepted": len(rows)}, 202


@app.get("/devices/<device_id>")
def devices_show(device_id: str):
    device_id, conn = check_uuid(device_id), db()
    device = conn.execute(
        "SELECT id, name, kind, status, registered_at, decommissioned_at FROM devices WHERE id = ?", (device_id,)
    ).fetchone()
    if device is None:
        return problem(404, "no such device")
    stats = conn.execute(
        "SELECT metric, count(*) AS count, sum(value) AS sum, min(value) AS min, max(value) AS max,"
        " max(recorded_at) AS last_seen_at FROM readings WHERE device_id = ? GROUP BY metric ORDER BY metric",
        (device_id,),
    ).fetchall()
    metrics = {}
    for row in stats:
        last = conn.execute(
            "SELECT value, recorded_at FROM readings WHERE device_id = ? AND metric = ?"
            " ORDER BY recorded_at DESC, id DESC LIMIT 1",
            (device_id, row["metric"]),
        ).fetchone()
        metrics[row["metric"]] = {
            "count": row["count"],
            "min": row["min"],
            "max": row["max"],
            "mean": row["sum"] / row["count"],
            "last_value": last["value"],
            "last_recorded_at": last["recorded_at"],
        }
    return jsonify(
        {
            **dict(device),
            "last_seen_at": max((row["last_seen_at"] for row in stats), default=None),
            "reading_count": sum(row["count"] for row in stats),
            "metrics": metrics,
        }
    )
