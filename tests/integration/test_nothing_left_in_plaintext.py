"""After an erasure, the person's email is nowhere in the database's files or the service's log
(SQLite): the events hold it encrypted under a destroyed key, the write and read rows that
held it are deleted with secure_delete on, the WAL is checkpointed and truncated, the stored
responses of their commands are deleted, and the log carries ids, not emails."""

import os
import uuid

import pytest

from tests.order_support import place_order
from tests.support import create_item

pytestmark = pytest.mark.sqlite


def raw_files(path: str) -> dict[str, bytes]:
    """The database file and its WAL as bytes (a missing WAL as empty)."""
    found = {}
    for name in (path, f"{path}-wal"):
        found[name] = open(name, "rb").read() if os.path.exists(name) else b""
    return found


@pytest.mark.parametrize("how", ["delete", "erase"])
def test_an_erased_users_email_is_in_no_database_file_nor_the_log(app, client, capfd, how):
    email = f"forget.me.{uuid.uuid4().hex[:12]}@example.com"
    body = {"first_name": "Forget", "last_name": "Me", "email": email}
    user = client.post("/users", json=body, headers={"Idempotency-Key": f"register-{email}"}).get_json()
    place_order(client, user["id"], (create_item(client, price=1)["id"], 2))
    client.put(f"/users/{user['id']}", json={**body, "email": email.upper()})
    client.post("/users", json={**body, "email": email.title()})  # 409: an error names it to the client only
    assert client.get("/users", query_string={"email": email}).get_json()  # it is there, readable

    if how == "delete":
        assert client.delete(f"/users/{user['id']}").status_code == 204
    else:
        assert client.post(f"/users/{user['id']}/erase").status_code == 204

    needles = {email.encode(), email.upper().encode(), email.title().encode(), b"forget.me"}
    for name, content in raw_files(app.config["DATABASE_PATH"]).items():
        assert not [needle for needle in needles if needle in content], name
    log = capfd.readouterr()
    assert "forget.me" not in log.err.lower() and "forget.me" not in log.out.lower()
    assert user["id"] in log.err  # the log names the user by id
