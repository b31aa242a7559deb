"""The import wall between the sides, checked on the source (the database checks it at run time)."""

import ast
import pathlib

import pytest

APP = pathlib.Path(__file__).resolve().parent.parent / "app"

FORBIDDEN = {
    "queries": ("app.commands", "app.bus", "app.projector"),
    "commands": ("app.projections", "app.queries", "app.projector"),
    "projections": ("app.commands", "app.queries", "app.bus"),
}
MESSAGES_MAY_IMPORT = ("app.eventlog", "app.discovery", "app.ids", "app.messages", "app.times")


def app_imports(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name == "app" or name.startswith("app.")}


def sources(package: str) -> list[pathlib.Path]:
    return sorted((APP / package).glob("*.py"))


@pytest.mark.parametrize("package", FORBIDDEN)
def test_no_side_imports_across_the_wall(package):
    crossing = {
        f"{path.name}: {name}"
        for path in sources(package)
        for name in app_imports(path)
        if name.startswith(FORBIDDEN[package])
    }
    assert not crossing


def test_messages_import_nothing_else_from_the_app():
    strays = {
        f"{path.name}: {name}"
        for path in sources("messages")
        for name in app_imports(path)
        if not name.startswith(MESSAGES_MAY_IMPORT)
    }
    assert not strays


def test_every_module_has_its_slice_on_both_sides():
    modules = {path.stem for path in sources("messages")} - {"__init__", "fields"}
    for module in modules:
        assert (APP / "commands" / f"{module}.py").exists()
        assert (APP / "queries" / f"{module}.py").exists()


def test_only_the_app_factory_imports_the_api_description_builder():
    importers = {
        str(path.relative_to(APP))
        for path in APP.rglob("*.py")
        if path.name != "__init__.py" or path.parent != APP
        if any(name == "app.openapi" or name.startswith("app.openapi.") for name in app_imports(path))
    }
    assert importers == set()


@pytest.mark.parametrize("core", ["bus.py", "eventlog.py", "projector.py", "process_manager.py", "times.py", "ids.py"])
def test_the_core_does_not_depend_on_the_web_layer(core):
    assert not {name for name in app_imports(APP / core) if name.startswith(("app.http", "app.openapi", "app.contract"))}
