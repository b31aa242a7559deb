"""What every module's projections share: after its events each stands at the head of the log,
catching up again changes nothing, and a rebuild from the log gives the same rows."""

import pytest

from app.messages.devices import DeviceDecommissioned, DeviceRegistered, TelemetryRecorded
from app.messages.employees import EmployeeHired, EmployeeUpdated, address
from app.messages.items import ItemCreated, ItemUpdated
from app.messages.orders import OrderCancelled, OrderPlaced, OrderShipped
from app.messages.users import UserDeleted, UserRegistered, UserUpdated
from tests.support import project, query, read_model

EGGS = "0b3c1f9e-7d44-4c55-9c7a-2b1f4e6d8a90"
JANE = "5d0c7c1e-2f3a-4b5c-8d9e-0a1b2c3d4e5f"
ADA = "7e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"
FIRST, SECOND = "00000000-0000-4000-8000-0000000000a1", "00000000-0000-4000-8000-0000000000a2"
BOILER, PUMP = "5d0c6a9e-1f2b-4c3d-8e4f-5a6b7c8d9e01", "5d0c6a9e-1f2b-4c3d-8e4f-5a6b7c8d9e02"
LINES = [{"item_id": EGGS, "name": "Dime", "quantity": 3, "unit_price_cents": 10, "line_total_cents": 30}]


def at(hour: int) -> str:
    return f"2026-03-01T{hour:02d}:00:00.000000Z"


# Each module's projections, and a stream of its events that exercises them.
MODULES = {
    "items": (
        ["item_details", "item_list"],
        [("item", EGGS, 1, ItemCreated("Eggs", "", None)), ("item", EGGS, 2, ItemUpdated("Ham", "", 1))],
    ),
    "employees": (
        ["employee_details", "employee_list"],
        [
            ("employee", JANE, 1, EmployeeHired("Jane", "Roe", address("1 Elm", "1", "A"))),
            ("employee", JANE, 2, EmployeeUpdated("Jane", "Roe", address("1", "1", "B"))),
        ],
    ),
    "users": (
        ["user_details", "user_list"],
        [
            ("user", ADA, 1, UserRegistered("Ada", "Lovelace", "a@b.io")),
            ("user", ADA, 2, UserUpdated("Ada", "King", "A@B.io")),
        ],
    ),
    "orders": (
        ["order_details", "order_history", "order_list"],
        [
            ("user", ADA, 1, UserRegistered("Ada", "Lovelace", "ada@example.com")),
            ("order", FIRST, 1, OrderPlaced(ADA, "2026-01-01T10:00:00.000000Z", LINES, 30)),
            ("order", SECOND, 1, OrderPlaced(ADA, "2026-01-01T11:00:00.000000Z", LINES, 30)),
            ("user", ADA, 2, UserUpdated("Ada", "King", "A@B.io")),
            ("order", FIRST, 2, OrderShipped("2026-01-02T00:00:00.000000Z")),
            ("order", SECOND, 2, OrderCancelled("user deleted", "2026-01-03T00:00:00.000000Z")),
            ("user", ADA, 3, UserDeleted()),
        ],
    ),
    "devices": (
        ["device_list", "telemetry_stats", "telemetry_readings"],
        [
            ("device", BOILER, 1, DeviceRegistered("Boiler", "sensor", at(8))),
            ("device", PUMP, 1, DeviceRegistered("Pump", "sensor", at(8))),
            ("device", BOILER, 2, TelemetryRecorded([["t", 0.1, at(9)], ["t", 0.2, at(8)], ["h", 3.0, at(9)]])),
            ("device", PUMP, 2, TelemetryRecorded([["t", 1e16, at(9)]])),
            ("device", PUMP, 3, TelemetryRecorded([["t", 1.0, at(10)]])),
            ("device", PUMP, 4, DeviceDecommissioned(at(12))),
        ],
    ),
}
PROJECTIONS = [(module, name) for module, (names, _) in MODULES.items() for name in names]


@pytest.mark.parametrize(("module", "projection"), PROJECTIONS)
def test_each_projection_stands_at_the_head_of_the_log_after_catching_up(app, module, projection):
    project(app, *MODULES[module][1])
    (head,) = query(app, "SELECT max(position) FROM events")[0]
    assert query(app, "SELECT position FROM projection_checkpoints WHERE name = ?", projection) == [(head,)]


@pytest.mark.parametrize("module", MODULES)
def test_catching_up_again_changes_nothing(app, module):
    project(app, *MODULES[module][1])
    before = read_model(app)
    with app.app_context():
        assert app.extensions["projector"].catch_up() == 0
    assert read_model(app) == before


@pytest.mark.parametrize("only_its_own", [False, True], ids=["every projection", "the module's"])
@pytest.mark.parametrize("module", MODULES)
def test_a_rebuild_from_the_log_gives_the_same_rows(app, module, only_its_own):
    names, stream = MODULES[module]
    project(app, *stream)
    before = read_model(app)
    with app.app_context():
        app.extensions["projector"].rebuild(names if only_its_own else None)
    assert read_model(app) == before
