"""The floor: the least a read of the product's contract can cost on this stack (issue 25).

A Flask app whose tables already hold the JSON it sends: a document per item (with the
version its ETag shows), a rendered row per list entry, keyed in list order. Each route is
one SELECT on a connection kept open, the rows joined into the body; no logging, no
metrics, no transaction around the read. It answers what the product answers to the
scenarios it serves: GET /items/<id>, and the first pages of GET /items and GET /employees
(with the same Link header). A read model shaped like these tables, served by the product,
can only come near it; the product's figures are shown as a fraction of this one.
"""

import base64
import json
import os
import sqlite3
import threading

from flask import Flask, Response, request

app = Flask(__name__)
DATABASE = os.environ.get("FLOOR_DATABASE", "floor.db")
PAGE = 100  # the product's PAGE_SIZE_DEFAULT

SCHEMA = """
PRAGMA journal_mode = WAL;
CREATE TABLE IF NOT EXISTS item_documents (
    id       TEXT    PRIMARY KEY,
    version  INTEGER NOT NULL,
    document TEXT    NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS item_rows (
    name TEXT NOT NULL,
    id   TEXT NOT NULL,
    row  TEXT NOT NULL,
    PRIMARY KEY (name, id)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS employee_rows (
    name TEXT NOT NULL,
    id   TEXT NOT NULL,
    row  TEXT NOT NULL,
    PRIMARY KEY (name, id)
) STRICT, WITHOUT ROWID;
"""

_local = threading.local()


def db() -> sqlite3.Connection:
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = _local.conn = sqlite3.connect(DATABASE, isolation_level=None, cached_statements=16)
        conn.execute("PRAGMA query_only = ON")
    return conn


@app.get("/items/<item_id>")
def item(item_id: str):
    row = db().execute("SELECT document, version FROM item_documents WHERE id = ?", (item_id,)).fetchone()
    if row is None:
        return Response(status=404)
    tag = f'"{row[1]}"'
    if request.environ.get("HTTP_IF_NONE_MATCH") == tag:
        return Response(status=304, headers={"ETag": tag})
    return Response(row[0], mimetype="application/json", headers={"ETag": tag})


def _first_page(table: str) -> Response:
    rows = db().execute(f"SELECT row, name, id FROM {table} ORDER BY name, id LIMIT {PAGE + 1}").fetchall()
    response = Response(f"[{','.join(row[0] for row in rows[:PAGE])}]", mimetype="application/json")
    if len(rows) > PAGE:
        key = json.dumps(rows[PAGE - 1][1:], separators=(",", ":")).encode()
        cursor = base64.urlsafe_b64encode(key).rstrip(b"=").decode()
        response.headers["Link"] = f'<{request.path}?limit={PAGE}&cursor={cursor}>; rel="next"'
    return response


@app.get("/items")
def items():
    return _first_page("item_rows")


@app.get("/employees")
def employees():
    return _first_page("employee_rows")
