"""A projection's version (app/projector.py): when it goes up, the next start rebuilds that read
model with its tables made anew from the baseline, so a read table's change needs no step of
migrations/ and no hand migration; a projection new to an existing database gets its tables."""

from contextlib import closing

from app import projections, schema
from app.db import transaction
from tests import engines
from tests.engines import plain_connection
from tests.support import create_item, make_app, query, read_model, shape

ITEM_LIST = next(p for p in projections.ALL if p.name == "item_list")


def versions(app) -> dict[str, int]:
    return dict(query(app, "SELECT name, version FROM projection_checkpoints"))


def test_a_new_database_records_each_projection_at_its_version(app):
    assert versions(app) == {p.name: p.version for p in projections.ALL}


def test_projections_of_another_version_are_rebuilt_at_start_into_the_same_read_model(app, client, tmp_path):
    create_item(client, name="Eggs")
    before = read_model(app)
    with closing(plain_connection(app.config)) as conn:
        conn.execute("UPDATE projection_checkpoints SET version = 0")
        conn.commit()
    restarted = make_app(tmp_path)
    assert versions(restarted) == {p.name: p.version for p in projections.ALL}
    assert read_model(restarted) == before
    assert shape(restarted.config) == shape(make_app(tmp_path / "new").config)


def test_a_read_table_whose_shape_changed_is_made_anew_when_its_projection_version_goes_up(
    app, client, tmp_path, monkeypatch
):
    """As a maintainer would: a column added to item_list_view in the baseline, and item_list's
    version raised; no step in migrations/."""
    create_item(client, name="Eggs")
    names = [row["name"] for row in client.get("/items").get_json()]
    baseline = schema.BASELINES[engines.ENGINE]
    changed = tmp_path / baseline.name
    text = baseline.read_text(encoding="utf-8")
    made = schema.definition(engines.ENGINE, "item_list_view")[0].replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS")
    assert made in text
    with_note = made.replace("    name ", "    note TEXT,\n    name ", 1)
    changed.write_text(text.replace(made, with_note), encoding="utf-8")
    monkeypatch.setitem(schema.BASELINES, engines.ENGINE, changed)
    monkeypatch.setattr(ITEM_LIST, "version", ITEM_LIST.version + 1)

    restarted = make_app(tmp_path)

    columns = columns_of(restarted, "item_list_view")
    assert columns[:2] == ["id", "note"] and "name" in columns
    assert versions(restarted)["item_list"] == ITEM_LIST.version
    assert [row["name"] for row in restarted.test_client().get("/items").get_json()] == names
    assert query(restarted, "SELECT count(*) FROM item_list_view WHERE note IS NOT NULL") == [(0,)]


def test_a_projection_new_to_an_existing_database_gets_its_tables_at_start(app, client, tmp_path):
    """A database made before the projection existed: no table, no checkpoint."""
    create_item(client, name="Eggs")
    before = read_model(app)["item_list_view"]
    with closing(plain_connection(app.config)) as conn:
        conn.execute("DROP TABLE item_list_view")
        conn.execute("DELETE FROM projection_checkpoints WHERE name = 'item_list'")
        conn.commit()
    restarted = make_app(tmp_path)
    assert read_model(restarted)["item_list_view"] == before
    assert versions(restarted)["item_list"] == ITEM_LIST.version


def test_queries_read_the_old_read_model_until_the_swap(app, client, tmp_path):
    """The rebuild at start fills copies: the live table answers meanwhile, unchanged."""
    create_item(client, name="Eggs")
    with closing(plain_connection(app.config)) as conn:
        conn.execute("UPDATE projection_checkpoints SET version = 0 WHERE name = 'item_list'")
        conn.commit()
    seen = []
    original = ITEM_LIST.handlers["ItemCreated"]

    def reading_the_live_table(tx, event):  # runs while the copy fills
        with app.app_context(), transaction("query") as reader:
            seen.append(reader.scalar("SELECT count(*) FROM item_list_view"))
        original(tx, event)

    ITEM_LIST.handlers["ItemCreated"] = reading_the_live_table
    try:
        make_app(tmp_path)
    finally:
        ITEM_LIST.handlers["ItemCreated"] = original
    assert seen and set(seen) == {2}  # Bacon and Eggs, all along


def columns_of(app, table: str) -> list[str]:
    if app.config.get("DATABASE_URL"):
        sql = "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position"
        return [name for (name,) in query(app, sql, table)]
    return [name for (_, name, *_) in query(app, f"PRAGMA table_info({table})")]
