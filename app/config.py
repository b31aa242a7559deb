"""Settings read from the environment, with defaults that work on a laptop."""

import os
from urllib.parse import urlsplit


class StartupError(RuntimeError):
    """The service cannot start as it is set up; the message, one line, says what is wrong and what to do."""


class ConfigError(StartupError, ValueError):
    """A setting in the environment has a value the service cannot use."""


def _int(name: str, default: int, minimum: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _flag(name: str) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} must be 1 or 0, got {raw!r}")


def _choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name) or default
    for choice in choices:
        if value.lower() == choice.lower():
            return choice
    raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


def _tokens(name: str) -> tuple[str, ...]:
    """Comma- or space-separated secrets; empty means the side is open."""
    return tuple(token for token in os.environ.get(name, "").replace(",", " ").split() if token)


def _database_url(name: str) -> str:
    """A PostgreSQL URL (postgresql://user:password@host:port/database); "" when unset."""
    raw = os.environ.get(name, "").strip()
    if raw and not raw.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        raise ConfigError(
            f"{name} must be a PostgreSQL URL such as postgresql://user:password@host:5432/database,"
            f" got one starting {raw.split(':', 1)[0]!r}"
        )
    return raw


def _base_url(name: str) -> str:
    """An http(s) URL of a host and, if any, a path, without its trailing slash; "" when unset."""
    raw = os.environ.get(name, "").strip()
    if raw and not _is_base_url(raw):
        raise ConfigError(
            f"{name} must be an http or https URL of a host and, if any, a path"
            f" (such as https://shop.example.com/api), got {raw!r}"
        )
    return raw.rstrip("/")


def _is_base_url(raw: str) -> bool:
    try:
        url = urlsplit(raw)
        url.port  # noqa: B018 -- raises ValueError unless the port is a number from 0 to 65535
    except ValueError:
        return False
    if not all("!" <= c <= "~" for c in raw) or "?" in raw or "#" in raw:  # it goes into headers as it is
        return False
    return url.scheme in ("http", "https") and bool(url.hostname) and "@" not in url.netloc


def from_environment(instance_path: str) -> dict:
    """The app's settings; every name here is documented in the README."""
    return {
        "DATABASE_PATH": os.environ.get("DATABASE_PATH") or os.path.join(instance_path, "cqrs.db"),
        # Set, the service runs on PostgreSQL instead of the SQLite file (app/engines/postgresql.py).
        "DATABASE_URL": _database_url("DATABASE_URL"),
        # Production: each role connects with credentials of its own (else DATABASE_URL's).
        "COMMAND_DATABASE_URL": _database_url("COMMAND_DATABASE_URL"),
        "PROJECTOR_DATABASE_URL": _database_url("PROJECTOR_DATABASE_URL"),
        "QUERY_DATABASE_URL": _database_url("QUERY_DATABASE_URL"),
        "DATABASE_POOL_SIZE": _int("DATABASE_POOL_SIZE", 2, minimum=1),
        "DATABASE_POOL_OVERFLOW": _int("DATABASE_POOL_OVERFLOW", 4, minimum=0),
        "DATABASE_BUSY_TIMEOUT_MS": _int("DATABASE_BUSY_TIMEOUT_MS", 10_000, minimum=100),
        "MAX_CONTENT_LENGTH": _int("MAX_BODY_BYTES", 1024 * 1024, minimum=1),
        "SQLITE_BUSY_TIMEOUT_MS": _int("SQLITE_BUSY_TIMEOUT_MS", 10_000, minimum=5_000),
        # NORMAL (with WAL): a commit survives any process crash; power loss may undo the last
        # few commits, never corrupt the file. FULL: a commit also survives power loss.
        "SQLITE_SYNCHRONOUS": _choice("SQLITE_SYNCHRONOUS", "NORMAL", ("NORMAL", "FULL")),
        "PAGE_SIZE_DEFAULT": _int("PAGE_SIZE_DEFAULT", 100, minimum=1),
        "PAGE_SIZE_MAX": _int("PAGE_SIZE_MAX", 1000, minimum=1),
        "PROJECTION_BATCH_SIZE": _int("PROJECTION_BATCH_SIZE", 500, minimum=1),
        # A failing projection is retried after 1, 2, 4 ... seconds (at most 5 minutes).
        "PROJECTION_RETRY_SECONDS": _int("PROJECTION_RETRY_SECONDS", 1, minimum=0),
        "READY_MAX_LAG": _int("READY_MAX_LAG", 100, minimum=0),
        # A query process on a PostgreSQL standby is not ready while it replays this far behind.
        "READY_MAX_REPLICA_LAG_SECONDS": _int("READY_MAX_REPLICA_LAG_SECONDS", 30, minimum=1),
        # A query sent with Min-Log-Position waits this long for the read model to reach it.
        "READ_WAIT_MS": _int("READ_WAIT_MS", 2_000, minimum=0),
        # GET /events?wait= waits at most this long for the next events.
        "FEED_MAX_WAIT_SECONDS": _int("FEED_MAX_WAIT_SECONDS", 30, minimum=0),
        # How often a command process (the lead of them all) looks for reactions left waiting.
        "PROCESS_MANAGER_SWEEP_SECONDS": _int("PROCESS_MANAGER_SWEEP_SECONDS", 2, minimum=1),
        "READY_DESPITE_FAILING": _flag("READY_DESPITE_FAILING"),
        "IDEMPOTENCY_TTL_SECONDS": _int("IDEMPOTENCY_TTL_SECONDS", 24 * 3600, minimum=1),
        "REQUIRE_IF_MATCH": _flag("REQUIRE_IF_MATCH"),
        "LOG_LEVEL": _choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
        "LOG_FORMAT": _choice("LOG_FORMAT", "json", ("json", "text")),
        "APP_ROLE": _choice("APP_ROLE", "all", ("all", "command", "query")),
        "PROXY_HOPS": _int("PROXY_HOPS", 0, minimum=0),
        # Where clients reach the service; absolute links (Location, Link) come only from it.
        "PUBLIC_BASE_URL": _base_url("PUBLIC_BASE_URL"),
        "COMMAND_TOKENS": _tokens("COMMAND_TOKENS"),
        "QUERY_TOKENS": _tokens("QUERY_TOKENS"),
        # A following query service: another service's base URL, whose event feed it applies.
        "FOLLOW_URL": _base_url("FOLLOW_URL"),
        "FOLLOW_TOKEN": os.environ.get("FOLLOW_TOKEN", "").strip(),
        "FOLLOW_WAIT_SECONDS": _int("FOLLOW_WAIT_SECONDS", 10, minimum=0),
        # For processes started beside one that already applies migrations and catches up at start.
        "SKIP_STARTUP_TASKS": _flag("APP_SKIP_STARTUP"),
    }
