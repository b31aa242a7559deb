"""The benchmark's data: the same logical rows for the product and the baseline, made
from a fixed seed so every run (and both targets) see identical items, employees, users,
orders and telemetry readings."""

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.ids import uuid7

SEED = 11  # the issue number; any fixed value keeps runs comparable

_ADJECTIVES = [
    "Amber",
    "Brisk",
    "Calm",
    "Dusty",
    "Eager",
    "Fancy",
    "Gentle",
    "Hardy",
    "Icy",
    "Jolly",
    "Keen",
    "Lucky",
    "Mellow",
    "Noble",
    "Olive",
    "Plain",
    "Quick",
    "Rustic",
    "Sunny",
    "Tidy",
    "Urban",
    "Vivid",
    "Warm",
    "Young",
    "Zesty",
]
_NOUNS = [
    "Apple",
    "Bagel",
    "Candle",
    "Donut",
    "Eggs",
    "Flour",
    "Grapes",
    "Honey",
    "Ink",
    "Jam",
    "Kettle",
    "Lemon",
    "Muffin",
    "Noodle",
    "Oats",
    "Pepper",
    "Quilt",
    "Rice",
    "Salt",
    "Toast",
    "Umbrella",
    "Vinegar",
    "Waffle",
    "Yarn",
    "Zucchini",
]
_FIRST = [
    "Ada",
    "Ben",
    "Cleo",
    "Dan",
    "Eve",
    "Finn",
    "Gail",
    "Hugo",
    "Iris",
    "Jack",
    "Kate",
    "Liam",
    "Mia",
    "Noah",
    "Olga",
    "Paul",
    "Quinn",
    "Rosa",
    "Sam",
    "Tara",
    "Uma",
    "Vic",
    "Wendy",
    "Xavi",
    "Yara",
    "Zoe",
]
_LAST = [
    "Adams",
    "Baker",
    "Clark",
    "Davis",
    "Evans",
    "Fisher",
    "Garcia",
    "Harris",
    "Irwin",
    "Jones",
    "King",
    "Lopez",
    "Miller",
    "Nolan",
    "Owens",
    "Parker",
    "Quinn",
    "Reed",
    "Smith",
    "Turner",
    "Underwood",
    "Vance",
    "Walker",
    "Young",
    "Zimmer",
]
_CITIES = [
    "Boston",
    "Paris",
    "Berlin",
    "Lagos",
    "Lima",
    "Oslo",
    "Osaka",
    "Perth",
    "Quito",
    "Rome",
    "Seoul",
    "Tunis",
    "Vienna",
    "Zagreb",
]


@dataclass(frozen=True)
class Item:
    id: str
    name: str
    description: str
    price_cents: int | None


@dataclass(frozen=True)
class Employee:
    id: str
    first_name: str
    last_name: str
    street: str
    zip: str
    city: str


@dataclass(frozen=True)
class User:
    id: str
    first_name: str
    last_name: str
    email: str


IDS_FROM_MS = 1_735_689_600_000  # 2025-01-01: when the first row of each kind was made


def _uuid(rng: random.Random, n: int) -> str:
    """The ``n``-th id of a kind, made as the product makes ids (app/ids.py: time-ordered),
    as if the rows had been created a millisecond apart."""
    return uuid7(IDS_FROM_MS + n, rng.getrandbits(80))


def items(count: int, seed: int = SEED) -> Iterator[Item]:
    rng = random.Random(f"items-{seed}")
    for n in range(count):
        price = None if n % 5 == 0 else rng.randrange(1, 100_000_00)
        name = f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)} {rng.randrange(1_000_000)}"
        yield Item(_uuid(rng, n), name, f"Benchmark item number {n}", price)


def employees(count: int, seed: int = SEED, start: int = 0) -> Iterator[Employee]:
    """Employees ``start`` to ``start + count`` of one endless, reproducible sequence."""
    rng = random.Random(f"employees-{seed}")
    for n in range(start + count):
        row = Employee(
            _uuid(rng, n),
            f"{rng.choice(_FIRST)}{rng.randrange(10_000)}",
            f"{rng.choice(_LAST)}{rng.randrange(10_000)}",
            f"{rng.randrange(1, 999)} Main Street",
            f"{rng.randrange(100_000):05d}",
            rng.choice(_CITIES),
        )
        if n >= start:
            yield row


def users(count: int, seed: int = SEED) -> Iterator[User]:
    rng = random.Random(f"users-{seed}")
    for n in range(count):
        first, last = rng.choice(_FIRST), f"{rng.choice(_LAST)}{rng.randrange(10_000)}"
        yield User(_uuid(rng, n), first, last, f"{first}.{last}.{n}@example.com".lower())


@dataclass(frozen=True)
class Order:
    id: str
    user_id: str
    lines: tuple[tuple[str, int], ...]  # (item_id, quantity), as POST /orders takes them
    fate: str  # "placed", or "shipped" / "cancelled" after it was placed


def orders(count: int, user_ids: list[str], item_ids: list[str], seed: int = SEED) -> Iterator[Order]:
    """Orders of 1 to 4 lines, each for a user drawn at random (about count / users each);
    one in ten is then shipped and one in twenty cancelled, so every shape of the reply is measured."""
    rng = random.Random(f"orders-{seed}")
    for n in range(count):
        lines = tuple((item_id, rng.randrange(1, 6)) for item_id in rng.sample(item_ids, rng.randrange(1, 5)))
        fate = "shipped" if n % 10 == 1 else "cancelled" if n % 20 == 2 else "placed"
        yield Order(_uuid(rng, n), rng.choice(user_ids), lines, fate)


@dataclass(frozen=True)
class Device:
    id: str
    name: str
    kind: str
    readings: int  # how many readings it is filled with


def devices(many: int, seed: int = SEED) -> list[Device]:
    """One device with a single reading, one with ``many``, and one that POST requests feed."""
    rng = random.Random(f"devices-{seed}")
    return [
        Device(_uuid(rng, 0), "Bench one reading", "sensor", 1),
        Device(_uuid(rng, 1), "Bench many readings", "sensor", many),
        Device(_uuid(rng, 2), "Bench telemetry target", "meter", 0),
    ]


READINGS_FROM = datetime(2024, 1, 1, tzinfo=UTC)  # in the past: the product refuses readings ahead of its clock


def readings(count: int, seed: int = SEED) -> Iterator[tuple[str, float, str]]:
    """``(metric, value, recorded_at)`` as the product stores them, a second apart from
    READINGS_FROM. One metric, so a device with one reading and one with a million answer
    documents of the same size. Values are whole quarters: every sum of them is exact, so
    the product's running sums and the baseline's SUM() give the same mean to the last bit."""
    rng = random.Random(f"readings-{seed}")
    for n in range(count):
        at = READINGS_FROM + timedelta(seconds=n)
        yield "temperature", rng.randrange(-400, 1600) / 4, at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
