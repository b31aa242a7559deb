"""Process managers as code: where they live, what they may import, and how they are named."""

import ast
import pathlib

import pytest

from app.messages.users import UserDeleted
from app.process_manager import ProcessManager, ProcessManagers
from app.process_managers import ALL, cancel_orders_of_deleted_users

PACKAGE = pathlib.Path(__file__).resolve().parent.parent.parent / "app" / "process_managers"


def app_imports(path: pathlib.Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module}
    return {name for name in found if name.startswith("app.")}


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_a_process_manager_sends_commands_through_the_bus_and_imports_no_side(path):
    assert not {
        name for name in app_imports(path) if name.startswith(("app.commands", "app.queries", "app.projections"))
    }


def test_the_package_finds_its_managers_by_themselves():
    assert ALL == [cancel_orders_of_deleted_users.process_manager]


def test_a_manager_reacts_to_event_types_by_their_stored_names():
    assert list(cancel_orders_of_deleted_users.process_manager.reactions) == [UserDeleted.type_name]


def test_two_managers_of_one_name_are_refused():
    twins = [ProcessManager("twin", {}), ProcessManager("twin", {})]
    with pytest.raises(ValueError, match="unique"):
        ProcessManagers(twins)
