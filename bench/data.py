"""The benchmark's data: the same logical rows for the product and the baseline, made
from a fixed seed so every run (and both targets) see identical items, employees and users."""

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

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


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def items(count: int, seed: int = SEED) -> Iterator[Item]:
    rng = random.Random(f"items-{seed}")
    for n in range(count):
        price = None if n % 5 == 0 else rng.randrange(1, 100_000_00)
        name = f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)} {rng.randrange(1_000_000)}"
        yield Item(_uuid(rng), name, f"Benchmark item number {n}", price)


def employees(count: int, seed: int = SEED, start: int = 0) -> Iterator[Employee]:
    """Employees ``start`` to ``start + count`` of one endless, reproducible sequence."""
    rng = random.Random(f"employees-{seed}")
    for n in range(start + count):
        row = Employee(
            _uuid(rng),
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
        yield User(_uuid(rng), first, last, f"{first}.{last}.{n}@example.com".lower())
