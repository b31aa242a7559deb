"""The plain CRUD baseline: the product's routes and JSON shapes for items, employees and
users, written the way a competent developer would in an afternoon without CQRS.

sqlite3 on normalized tables (schema.sql), one connection per thread kept open, WAL on;
lists join and ORDER BY at query time and paginate with OFFSET/LIMIT (the Link header
carries ``offset``). Writes are single INSERT/UPDATE/DELETE statements.
"""

import json
import os
import re
import sqlite3
import threading
import uuid
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


# ---------------------------------------------------------------- items


def item_json(row) -> dict:
    item = {"id": row["id"], "name": row["name"], "description": row["description"]}
    cents = row["price_cents"]
    if cents is not None:
        item["price"] = cents // 100 if cents % 100 == 0 else cents / 100
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
