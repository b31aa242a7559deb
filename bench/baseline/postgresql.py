"""The plain CRUD baseline on PostgreSQL, for the postgres phase: app.py's items, employees
and users routes and JSON shapes with a psycopg connection instead of sqlite3.

One connection per thread kept open, in autocommit: each statement is its own transaction,
as a one-statement request needs no more. Tables in schema.postgresql.sql; lists join and
ORDER BY at query time with OFFSET/LIMIT, as on SQLite.
"""

import os
import threading
import uuid

import psycopg
from flask import Flask, jsonify, request
from psycopg.rows import dict_row

from .app import (
    _EMPLOYEE_LIST,
    check_uuid,
    item_fields,
    item_json,
    page_args,
    page_response,
    problem,
)

app = Flask(__name__)
app.json.sort_keys = False
app.json.ensure_ascii = False

DATABASE_URL = os.environ.get("BASELINE_DATABASE_URL", "postgresql://postgres@127.0.0.1/baseline")
_local = threading.local()


def db() -> psycopg.Connection:
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = psycopg.connect(DATABASE_URL, autocommit=True, row_factory=dict_row)
        _local.conn = conn
    return conn


def _sql(statement: str) -> str:
    return statement.replace("?", "%s")


@app.get("/items")
def items_index():
    limit, offset = page_args()
    rows = (
        db().execute("SELECT id, name FROM items ORDER BY name, id LIMIT %s OFFSET %s", (limit + 1, offset)).fetchall()
    )
    return page_response(rows, limit, offset)


@app.get("/items/<item_id>")
def items_show(item_id: str):
    row = db().execute("SELECT * FROM items WHERE id = %s", (check_uuid(item_id),)).fetchone()
    if row is None:
        return problem(404, "no such item")
    return jsonify(item_json(row))


@app.post("/items")
def items_create():
    name, description, cents = item_fields()
    item_id = str(uuid.uuid4())
    db().execute("INSERT INTO items VALUES (%s, %s, %s, %s)", (item_id, name, description, cents))
    row = {"id": item_id, "name": name, "description": description, "price_cents": cents}
    return item_json(row), 201, {"Location": f"{request.base_url}/{item_id}"}


@app.get("/employees")
def employees_index():
    limit, offset = page_args()
    city = request.args.get("city")
    where, params = ("WHERE a.city = %s", [city]) if city is not None else ("", [])
    rows = db().execute(_sql(_EMPLOYEE_LIST.format(where=where)), (*params, limit + 1, offset)).fetchall()
    return page_response(rows, limit, offset)


@app.get("/users")
def users_index():
    limit, offset = page_args()
    rows = (
        db()
        .execute(
            "SELECT id, first_name, last_name, email FROM users ORDER BY last_name, first_name, id LIMIT %s OFFSET %s",
            (limit + 1, offset),
        )
        .fetchall()
    )
    return page_response(rows, limit, offset)
