"""Invariant 4: whatever commands ran, the read model rebuilt from the log equals the live one.

Random command sequences (valid and invalid), mixing items, employees, users, devices and
orders (whose users may be renamed or deleted, and whose items may change or go), run over
HTTP; afterwards the live read model must match a model the test kept itself, and a rebuild
from the event log must reproduce the live read tables row for row, seed data included.
"""

from decimal import Decimal

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.support import BACON_ID, JOHN_DOE, JOHN_DOE_ID, SHARED_FIXTURE, UNKNOWN_ID, example_app, read_model

target = st.integers(min_value=0, max_value=30)  # which known id of its module a command aims at


def trimmed_within(value: str, limit: int) -> bool:
    return 1 <= len(value.strip()) <= limit


# ---------------------------------------------------------------- items

# Any text either engine stores: all of Unicode but U+0000, which every write refuses (400).
storable = st.characters(codec="utf-8", exclude_characters="\x00")
names = st.one_of(st.text(storable, max_size=12), st.sampled_from(["Apple", "apple", " Bacon ", "Ä", "🥓", ""]))
descriptions = st.text(storable, max_size=20)
prices = st.one_of(st.none(), st.decimals(min_value=0, max_value=1000, places=2), st.just(-1))


class Items:
    """The items the service should hold, starting from seed 000's Bacon."""

    commands = st.one_of(
        st.tuples(st.just("items"), st.just("create"), names, descriptions, prices),
        st.tuples(st.just("items"), st.just("update"), target, names, descriptions, prices),
        st.tuples(st.just("items"), st.just("delete"), target),
    )

    def __init__(self):
        self.ids = [BACON_ID]
        bacon = {"id": BACON_ID, "name": "Bacon", "description": "Everything tastes better, with bacon 🥓"}
        self.model = {BACON_ID: bacon}

    @staticmethod
    def body(name, description, price) -> dict:
        fields = {"name": name, "description": description}
        if price is not None:
            fields["price"] = float(price) if isinstance(price, Decimal) else price
        return fields

    @staticmethod
    def is_valid(name, price) -> bool:
        return trimmed_within(name, 200) and (price is None or price >= 0)

    @staticmethod
    def expected(item_id, name, description, price) -> dict:
        item = {"id": item_id, "name": name.strip(), "description": description}
        if price is not None:
            item["price"] = float(price)
        return item

    def run(self, client, action, *args) -> None:
        if action == "create":
            name, description, price = args
            response = client.post("/items", json=self.body(name, description, price))
            if not self.is_valid(name, price):
                assert response.status_code == 400
                return
            assert response.status_code == 201
            item_id = response.get_json()["id"]
            self.ids.append(item_id)
            self.model[item_id] = self.expected(item_id, name, description, price)
        elif action == "update":
            n, name, description, price = args
            item_id = self.ids[n % len(self.ids)]
            response = client.put(f"/items/{item_id}", json=self.body(name, description, price))
            if not self.is_valid(name, price):
                assert response.status_code == 400
            elif item_id not in self.model:
                assert response.status_code == 404
            else:
                assert response.status_code == 200
                self.model[item_id] = self.expected(item_id, name, description, price)
        else:
            item_id = self.ids[args[0] % len(self.ids)]
            response = client.delete(f"/items/{item_id}")
            assert response.status_code == (204 if self.model.pop(item_id, None) else 404)

    def check(self, client) -> None:
        listed = client.get("/items?limit=1000").get_json()
        rows = ({"id": i["id"], "name": i["name"]} for i in self.model.values())
        assert listed == sorted(rows, key=lambda i: (i["name"], i["id"]))
        for item_id, item in self.model.items():
            assert client.get(f"/items/{item_id}").get_json() == item


# ---------------------------------------------------------------- employees

people = st.one_of(st.text(storable, max_size=8), st.sampled_from(["Ann", " Ann ", "Zoë", "  ", "x" * 101]))
streets = st.one_of(st.text(storable, max_size=8), st.sampled_from(["1234 Main Street", "x" * 51]))
zips = st.sampled_from(["02112", " 02112 ", "", "12345678901"])
cities = st.sampled_from(["Boston", "boston", " Paris ", "Paris", "", "x" * 51])


class Employees:
    """The employees the service should hold, starting from seed 001's John Doe."""

    commands = st.one_of(
        st.tuples(st.just("employees"), st.just("create"), people, people, streets, zips, cities),
        st.tuples(st.just("employees"), st.just("update"), target, people, people, streets, zips, cities),
        st.tuples(st.just("employees"), st.just("delete"), target),
        st.tuples(st.just("employees"), st.just("erase"), target),  # forgotten: histories show placeholders
    )

    def __init__(self):
        self.ids = [JOHN_DOE_ID]
        self.model = {JOHN_DOE_ID: JOHN_DOE}

    @staticmethod
    def body(first, last, street, zip_code, city) -> dict:
        return {"firstName": first, "lastName": last, "address": {"street": street, "zip": zip_code, "city": city}}

    @staticmethod
    def is_valid(first, last, street, zip_code, city) -> bool:
        limits = [(first, 100), (last, 100), (street, 50), (zip_code, 10), (city, 50)]
        return all(trimmed_within(value, limit) for value, limit in limits)

    @staticmethod
    def expected(employee_id, first, last, street, zip_code, city) -> dict:
        address = {"id": employee_id, "street": street.strip(), "zip": zip_code.strip(), "city": city.strip()}
        return {"id": employee_id, "firstName": first.strip(), "lastName": last.strip(), "address": address}

    def run(self, client, action, *args) -> None:
        if action == "create":
            response = client.post("/employees", json=self.body(*args))
            if not self.is_valid(*args):
                assert response.status_code == 400
                return
            assert response.status_code == 201
            employee_id = response.get_json()["id"]
            self.ids.append(employee_id)
            self.model[employee_id] = self.expected(employee_id, *args)
        elif action == "update":
            n, *fields = args
            employee_id = self.ids[n % len(self.ids)]
            response = client.put(f"/employees/{employee_id}", json=self.body(*fields))
            if not self.is_valid(*fields):
                assert response.status_code == 400
            elif employee_id not in self.model:
                assert response.status_code == 404
            else:
                assert response.status_code == 200
                self.model[employee_id] = self.expected(employee_id, *fields)
        elif action == "erase":  # every id here was an employee once: 204, erased already or not
            employee_id = self.ids[args[0] % len(self.ids)]
            assert client.post(f"/employees/{employee_id}/erase").status_code == 204
            self.model.pop(employee_id, None)
        else:
            employee_id = self.ids[args[0] % len(self.ids)]
            response = client.delete(f"/employees/{employee_id}")
            assert response.status_code == (204 if self.model.pop(employee_id, None) else 404)

    def rows(self, city: str | None = None) -> list[dict]:
        rows = [
            {"id": e["id"], "name": f"{e['lastName']}, {e['firstName']}", "city": e["address"]["city"]}
            for e in self.model.values()
            if city is None or e["address"]["city"] == city
        ]
        return sorted(rows, key=lambda e: (e["name"], e["id"]))

    def check(self, client) -> None:
        assert client.get("/employees?limit=1000").get_json() == self.rows()
        for city in {"Boston", "boston", "Paris", "Atlantis"} | {e["address"]["city"] for e in self.model.values()}:
            listed = client.get("/employees", query_string={"city": city, "limit": 1000}).get_json()
            assert listed == self.rows(city)
        for employee_id, employee in self.model.items():
            assert client.get(f"/employees/{employee_id}").get_json() == employee


# ---------------------------------------------------------------- users

EMAILS = ["ada@example.com", "ADA@Example.com", "bob@example.com", "Ünal@Bücher.de", "ünal@bücher.DE"]
emails = st.sampled_from([*EMAILS, "not-an-email", ""])


class Users:
    """The users the service should hold (none at first), each email taken at most once, ignoring case."""

    commands = st.one_of(
        st.tuples(st.just("users"), st.just("create"), people, people, emails),
        st.tuples(st.just("users"), st.just("update"), target, people, people, emails),
        st.tuples(st.just("users"), st.just("delete"), target),
        st.tuples(st.just("users"), st.just("erase"), target),  # forgotten: histories show placeholders
    )

    def __init__(self):
        self.ids = [UNKNOWN_ID]  # never registered: aims a command at 404
        self.model = {}

    @staticmethod
    def body(first, last, email) -> dict:
        return {"first_name": first, "last_name": last, "email": email}

    @staticmethod
    def is_valid(first, last, email) -> bool:
        return trimmed_within(first, 100) and trimmed_within(last, 100) and email in EMAILS

    @staticmethod
    def expected(user_id, first, last, email) -> dict:
        return {"id": user_id, "first_name": first.strip(), "last_name": last.strip(), "email": email}

    def taken(self, email: str, by_other_than: str | None = None) -> bool:
        return any(u["email"].lower() == email.lower() for i, u in self.model.items() if i != by_other_than)

    def run(self, client, action, *args) -> None:
        if action == "create":
            first, last, email = args
            response = client.post("/users", json=self.body(*args))
            if not self.is_valid(*args):
                assert response.status_code == 400
            elif self.taken(email):
                assert response.status_code == 409
            else:
                assert response.status_code == 201
                user_id = response.get_json()["id"]
                self.ids.append(user_id)
                self.model[user_id] = self.expected(user_id, first, last, email)
        elif action == "update":
            n, first, last, email = args
            user_id = self.ids[n % len(self.ids)]
            response = client.put(f"/users/{user_id}", json=self.body(first, last, email))
            if not self.is_valid(first, last, email):
                assert response.status_code == 400
            elif user_id not in self.model:
                assert response.status_code == 404
            elif self.taken(email, by_other_than=user_id):
                assert response.status_code == 409
            else:
                assert response.status_code == 200
                self.model[user_id] = self.expected(user_id, first, last, email)
        elif action == "erase":
            user_id = self.ids[args[0] % len(self.ids)]
            response = client.post(f"/users/{user_id}/erase")
            assert response.status_code == (404 if user_id == UNKNOWN_ID else 204)
            self.model.pop(user_id, None)
        else:
            user_id = self.ids[args[0] % len(self.ids)]
            response = client.delete(f"/users/{user_id}")
            assert response.status_code == (204 if self.model.pop(user_id, None) else 404)

    def check(self, client) -> None:
        listed = client.get("/users?limit=1000").get_json()
        assert listed == sorted(self.model.values(), key=lambda u: (u["last_name"], u["first_name"], u["id"]))
        for email in EMAILS:
            found = client.get("/users", query_string={"email": email}).get_json()
            assert found == [u for u in self.model.values() if u["email"].lower() == email.lower()]
        for user_id, user in self.model.items():
            assert client.get(f"/users/{user_id}").get_json() == user


# ---------------------------------------------------------------- devices

device_names = st.sampled_from(["Boiler", "boiler", " Pump ", "", "x" * 101])
kinds = st.sampled_from(["sensor", "meter", "gateway", "robot"])
batches = st.lists(
    st.tuples(st.sampled_from(["t", "h", "Bad"]), st.integers(-9, 9), st.integers(0, 9)), min_size=1, max_size=4
)


class Devices:
    """The devices the service should hold (none at first), an active name held once, ignoring case."""

    commands = st.one_of(
        st.tuples(st.just("devices"), st.just("create"), device_names, kinds),
        st.tuples(st.just("devices"), st.just("telemetry"), target, batches),
        st.tuples(st.just("devices"), st.just("decommission"), target),
    )

    def __init__(self):
        self.ids = [UNKNOWN_ID]  # never registered: aims a command at 404
        self.model = {}

    def name_taken(self, name: str) -> bool:
        return any(d["status"] == "active" and d["name"].lower() == name.strip().lower() for d in self.model.values())

    def run(self, client, action, *args) -> None:
        if action == "create":
            name, kind = args
            response = client.post("/devices", json={"name": name, "kind": kind})
            if not trimmed_within(name, 100) or kind == "robot":
                assert response.status_code == 400
            elif self.name_taken(name):
                assert response.status_code == 409
            else:
                assert response.status_code == 201
                device_id = response.get_json()["id"]
                self.ids.append(device_id)
                self.model[device_id] = {
                    "id": device_id,
                    "name": name.strip(),
                    "kind": kind,
                    "status": "active",
                    "last_seen_at": None,
                    "reading_count": 0,
                }
        elif action == "telemetry":
            n, batch = args
            device_id = self.ids[n % len(self.ids)]
            times = [f"2024-01-01T00:00:0{s}.000000Z" for _, _, s in batch]
            body = {"readings": [{"metric": m, "value": v, "recorded_at": t} for (m, v, _), t in zip(batch, times)]}
            response = client.post(f"/devices/{device_id}/telemetry", json=body)
            device = self.model.get(device_id)
            if any(m == "Bad" for m, _, _ in batch):
                assert response.status_code == 400
            elif device is None or device["status"] != "active":
                assert response.status_code == (404 if device is None else 409)
            else:
                assert response.status_code == 202
                device["reading_count"] += len(batch)
                device["last_seen_at"] = max([t for t in [device["last_seen_at"], *times] if t])
        else:
            device_id = self.ids[args[0] % len(self.ids)]
            response = client.post(f"/devices/{device_id}/decommission")
            device = self.model.get(device_id)
            assert response.status_code == (404 if device is None else 409 if device["status"] != "active" else 200)
            if device is not None:
                device["status"] = "decommissioned"

    def check(self, client) -> None:
        listed = client.get("/devices?limit=1000").get_json()
        assert listed == sorted(self.model.values(), key=lambda d: (d["name"], d["id"]))


# ---------------------------------------------------------------- orders

quantities = st.sampled_from([1, 2, 3, 1000, 0])  # 0 is refused, and 1000 with another line of the same item
order_lines = st.lists(st.tuples(target, quantities), min_size=1, max_size=3)


def money(cents: int):
    return cents // 100 if cents % 100 == 0 else cents / 100


class Orders:
    """The orders the service should hold (none at first): lines at the item's price of the
    moment, the user as they are now, and placed orders cancelled when their user is deleted."""

    commands = st.one_of(
        st.tuples(st.just("orders"), st.just("place"), target, order_lines),
        st.tuples(st.just("orders"), st.just("ship"), target),
        st.tuples(st.just("orders"), st.just("cancel"), target),
        st.tuples(st.just("orders"), st.just("rename"), target, people),  # the user of an order
        st.tuples(st.just("orders"), st.just("leave"), target),  # the user of an order is deleted
    )

    def __init__(self, items: Items, users: Users):
        self.items, self.users = items, users
        self.ids = [UNKNOWN_ID]  # never placed: aims a command at 404
        self.model = {}

    def compensate(self) -> None:
        """What the process manager did when a user was deleted."""
        for order in self.model.values():
            if order["status"] == "placed" and order["user_id"] not in self.users.model:
                order.update(status="cancelled", cancellation_reason="user deleted", cancelled_at=None)

    def lines(self, sent: list[tuple[str, int]]) -> list[dict]:
        merged = {}
        for item_id, quantity in sent:
            merged[item_id] = merged.get(item_id, 0) + quantity
        lines = []
        for item_id, quantity in merged.items():
            item = self.items.model[item_id]
            price = round(item.get("price", 0) * 100)
            lines.append(
                {
                    "item_id": item_id,
                    "name": item["name"],
                    "quantity": quantity,
                    "unit_price_cents": price,
                    "line_total_cents": quantity * price,
                }
            )
        return lines

    def place(self, client, n, picks) -> None:
        if not self.users.model:  # a customer first, or random users would rarely let an order through
            self.customer(client)
        user_id = self.users.ids[n % len(self.users.ids)]
        sent = [(self.items.ids[m % len(self.items.ids)], quantity) for m, quantity in picks]
        body = {"user_id": user_id, "lines": [{"item_id": i, "quantity": q} for i, q in sent]}
        response = client.post("/orders", json=body)
        totals = {}
        for item_id, quantity in sent:
            totals[item_id] = totals.get(item_id, 0) + quantity
        if any(q == 0 for _, q in sent) or max(totals.values()) > 1000:
            assert response.status_code == 400
        elif user_id not in self.users.model or any(i not in self.items.model for i, _ in sent):
            assert response.status_code == 422
        else:
            assert response.status_code == 201
            order = response.get_json()
            lines = self.lines(sent)
            self.ids.append(order["id"])
            self.model[order["id"]] = {
                "id": order["id"],
                "user_id": user_id,
                "status": "placed",
                "placed_at": order["placed_at"],
                "lines": lines,
                "total_cents": sum(line["line_total_cents"] for line in lines),
            }

    def customer(self, client) -> None:
        body = {"first_name": "Cus", "last_name": "Tomer", "email": f"customer{len(self.users.ids)}@example.com"}
        response = client.post("/users", json=body)
        assert response.status_code == 201
        user_id = response.get_json()["id"]
        self.users.ids.append(user_id)
        self.users.model[user_id] = {"id": user_id, **body}

    def customer_of(self, n) -> str:
        order = self.model.get(self.ids[n % len(self.ids)])
        return order["user_id"] if order else self.users.ids[0]

    def rename(self, client, n, last) -> None:
        user_id = self.customer_of(n)
        user = self.users.model.get(user_id)
        body = {"first_name": "Ann", "last_name": last, "email": user["email"] if user else "ann@example.com"}
        response = client.put(f"/users/{user_id}", json=body)
        if not trimmed_within(last, 100):
            assert response.status_code == 400
        elif user is None:
            assert response.status_code == 404
        else:
            assert response.status_code == 200
            user.update(first_name="Ann", last_name=last.strip())

    def leave(self, client, n) -> None:
        user_id = self.customer_of(n)
        response = client.delete(f"/users/{user_id}")
        assert response.status_code == (204 if self.users.model.pop(user_id, None) else 404)

    def run(self, client, action, *args) -> None:
        self.compensate()
        if action in ("place", "rename", "leave"):
            getattr(self, action)(client, *args)
            return
        order_id = self.ids[args[0] % len(self.ids)]
        response = client.post(f"/orders/{order_id}/{action}")
        order = self.model.get(order_id)
        assert response.status_code == (404 if order is None else 409 if order["status"] != "placed" else 200)
        if response.status_code == 200:
            reply = response.get_json()
            if action == "ship":
                order.update(status="shipped", shipped_at=reply["shipped_at"])
            else:
                order.update(
                    status="cancelled", cancelled_at=reply["cancelled_at"], cancellation_reason="cancelled by customer"
                )

    def document(self, order: dict) -> dict:
        user = self.users.model.get(order["user_id"])
        name = f"{user['first_name']} {user['last_name']}" if user else None
        lines = [
            {
                "item_id": line["item_id"],
                "name": line["name"],
                "quantity": line["quantity"],
                "unit_price": money(line["unit_price_cents"]),
                "line_total": money(line["line_total_cents"]),
            }
            for line in order["lines"]
        ]
        document = {
            "id": order["id"],
            "status": order["status"],
            "placed_at": order["placed_at"],
            "user": {"id": order["user_id"], "name": name, "email": user["email"] if user else None},
            "lines": lines,
            "total": money(order["total_cents"]),
        }
        document.update({k: order[k] for k in ("shipped_at", "cancelled_at", "cancellation_reason") if k in order})
        return document

    def rows(self, user_id: str | None = None, status: str | None = None) -> list[dict]:
        orders = [o for o in self.model.values() if status in (None, o["status"]) and user_id in (None, o["user_id"])]
        rows = [
            {
                "id": o["id"],
                "user_id": o["user_id"],
                "status": o["status"],
                "placed_at": o["placed_at"],
                "item_count": sum(line["quantity"] for line in o["lines"]),
                "total": money(o["total_cents"]),
            }
            for o in sorted(orders, key=lambda o: (o["placed_at"], o["id"]), reverse=True)
        ]
        if user_id is not None:
            for row in rows:
                del row["user_id"]
        return rows

    def check(self, client) -> None:
        self.compensate()
        for order_id, order in self.model.items():
            shown = client.get(f"/orders/{order_id}").get_json()
            if order.get("cancelled_at", "") is None:  # cancelled by the process manager, at a time of its own
                assert shown.pop("cancelled_at")
                order = {k: v for k, v in order.items() if k != "cancelled_at"}
            assert shown == self.document(order)
        assert client.get("/orders?limit=1000").get_json() == self.rows()
        for status in ("placed", "shipped", "cancelled"):
            assert client.get(f"/orders?status={status}&limit=1000").get_json() == self.rows(status=status)
        for user_id in self.users.ids:
            response = client.get(f"/users/{user_id}/orders?limit=1000")
            if user_id in self.users.model:
                assert response.get_json() == self.rows(user_id=user_id)
            else:
                assert response.status_code == 404


# ---------------------------------------------------------------- the property

commands = st.lists(
    st.one_of(Items.commands, Employees.commands, Users.commands, Devices.commands, Orders.commands, Orders.commands),
    max_size=30,
)

# One order's whole life, every time: merged lines, a renamed customer, a repriced and then
# deleted item, shipping, refusals, and the compensation when a customer is deleted.
ORDER_LIFE = [
    ("items", "create", "Eggs", "", Decimal("0.10")),
    ("orders", "place", 1, [(1, 3), (0, 2), (1, 1)]),  # the first customer; Eggs, Bacon, Eggs
    ("orders", "place", 1, [(1, 1)]),
    ("orders", "rename", 1, "King"),
    ("items", "update", 1, "Duck eggs", "", Decimal("9.99")),
    ("orders", "ship", 1),
    ("items", "delete", 1),
    ("orders", "place", 1, [(1, 1)]),  # 422: the item is gone
    ("orders", "leave", 2),  # its placed order is cancelled for it
    ("orders", "cancel", 2),  # 409: already cancelled
    ("orders", "place", 1, [(0, 1)]),  # 422: the customer is gone
    ("orders", "ship", 1),  # 409: shipped already
]


@settings(max_examples=100, deadline=None, suppress_health_check=SHARED_FIXTURE)
@given(commands)
@example(ORDER_LIFE)
def test_rebuilding_the_read_model_from_the_log_equals_the_live_one(tmp_path_factory, commands):
    with example_app(tmp_path_factory) as app:
        client = app.test_client()
        models = {"items": Items(), "employees": Employees(), "users": Users(), "devices": Devices()}
        models["orders"] = Orders(models["items"], models["users"])

        for module, action, *args in commands:
            models[module].run(client, action, *args)

        for model in models.values():
            model.check(client)

        live = read_model(app)
        with app.app_context():
            app.extensions["projector"].rebuild()
        assert read_model(app) == live
