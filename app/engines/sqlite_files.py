"""The SQLite database's files: a start checks that this process can use each of them."""

import os
import pwd
import stat

from app.config import StartupError
from app.engines.sqlite_writers import SIDE_FILES


def check_files(database_path: str) -> None:
    """Make the database's folder if missing, then check that this process can use it and
    every file of the database. StartupError: which path, what is wrong, what to do."""
    if os.path.isdir(database_path):
        raise StartupError(
            f"DATABASE_PATH {database_path} is a folder: give the path of the database file,"
            f" e.g. {os.path.join(database_path, 'cqrs.db')}"
        )
    _check_folder(os.path.dirname(database_path))
    for path in [database_path, *(database_path + suffix for suffix in SIDE_FILES)]:
        if os.path.exists(path) and not os.access(path, os.R_OK | os.W_OK):
            user = _user(os.geteuid())
            raise StartupError(
                f"{path} cannot be read and written by user {user} ({_owner_and_mode(path)}): give that user"
                f" read and write access to the database's files (chown {user} {database_path}*;"
                f" chmod u+rw {database_path}*)"
            )


def _check_folder(folder: str) -> None:
    """SQLite makes and removes its -wal and -shm beside the database: the folder must be writable."""
    user = _user(os.geteuid())
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise StartupError(
            f"cannot make {folder}, the database's folder: {error.strerror}; make it and give user {user}"
            " write access to it"
        ) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StartupError(
            f"{folder}, the database's folder, is not writable by user {user} ({_owner_and_mode(folder)}):"
            " SQLite makes its -wal and -shm files there; give that user write access to the folder"
            f" (chown {user} {folder}, or chmod u+w)"
        )


def _owner_and_mode(path: str) -> str:
    status = os.stat(path)
    return f"owner {_user(status.st_uid)}, mode {stat.S_IMODE(status.st_mode):04o}"


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)
