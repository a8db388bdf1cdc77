"""Small file helpers shared by every module: where data lives, checksums, atomic writes.

An *atomic* write goes to a temporary file in the same folder and is then renamed over the
target with ``os.replace``, so a reader (or a crash) never sees a half-written file and an
earlier good file is never lost.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

DATA_ENV_VAR = "CNNKIT_DATA"
OFFLINE_ENV_VAR = "CNNKIT_OFFLINE"


def data_dir() -> Path:
    """The folder where datasets are cached or dropped in by the user.

    ``$CNNKIT_DATA`` when set; otherwise the ``data/`` folder of the source checkout that
    cnnkit was installed from (``pip install -e .``); otherwise ``~/.cnnkit/data`` (for a
    plain ``pip install``, e.g. on Colab). The folder is not created here.
    """
    if os.environ.get(DATA_ENV_VAR):
        return Path(os.environ[DATA_ENV_VAR]).expanduser()
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file():
        return checkout / "data"
    return Path.home() / ".cnnkit" / "data"


def offline() -> bool:
    """True when ``$CNNKIT_OFFLINE`` is set to 1/true/yes: no download is ever attempted."""
    return os.environ.get(OFFLINE_ENV_VAR, "").strip().lower() in {"1", "true", "yes"}


def file_hash(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB chunks (``algorithm``: any ``hashlib`` name)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target`` atomically.

    On an exception the temporary file is removed and ``target`` is left untouched.
    The temporary name keeps ``target``'s suffix, since some writers (Keras, matplotlib)
    choose the format from it.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.stem}-", suffix=target.suffix, dir=target.parent)
    os.close(handle)
    temporary = Path(temporary)
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def write_json(path: str | os.PathLike, payload: dict) -> None:
    """Write ``payload`` as indented JSON, atomically."""
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")


# --- run folders: one owner at a time --------------------------------------------------

LOCK_NAME = ".lock"
_HELD_LOCKS: dict[Path, int] = {}  # folder -> open descriptor, for the locks this process holds


def prepare_folder(folder: str | os.PathLike) -> Path:
    """Create ``folder`` (and its parents) and check that files can be written in it.

    Raises :class:`~cnnkit.errors.OutputFolderError` with one line naming the problem when
    the path is an existing file, lies under a file, or cannot be written (read-only disk,
    no permission). Call it before any slow work, so that a bad path fails at once.
    """
    from cnnkit.errors import OutputFolderError

    folder = Path(folder)
    for parent in (folder, *folder.parents):
        if parent.exists() and not parent.is_dir():
            where = "is" if parent == folder else f"lies under {parent}, which is"
            raise OutputFolderError(
                f"The output folder {folder} {where} a file, not a folder; choose another."
            )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".write-test-", dir=folder)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise OutputFolderError(
            f"Cannot write into the output folder {folder} ({error.strerror or error}); "
            "choose a folder you can write to."
        ) from None
    return folder


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike) -> Iterator[Path]:
    """Hold an exclusive lock on a run folder while the block runs.

    The lock is an OS file lock (``fcntl.flock``) on ``folder/.lock``, which also records the
    owner's process id and host. The operating system releases it when the owner exits, even
    when it is killed, so a lock left by a dead process is never in the way. A second process
    (or a second notebook kernel) asking for the same folder fails at once with
    :class:`~cnnkit.errors.FolderLockedError`. Re-entrant within one process.
    """
    import socket

    from cnnkit.errors import FolderLockedError

    folder = prepare_folder(folder).resolve()
    try:
        import fcntl
    except ImportError:  # Windows: no flock; run unlocked rather than not at all
        yield folder
        return
    if folder in _HELD_LOCKS:  # already ours (the command line holds it around train())
        yield folder
        return
    path = folder / LOCK_NAME
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        owner = os.pread(descriptor, 200, 0).decode(errors="replace").strip() or "another process"
        os.close(descriptor)
        raise FolderLockedError(
            f"{folder} is in use by {owner}: wait for that run to finish, or choose another output folder."
        ) from None
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"process {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
    _HELD_LOCKS[folder] = descriptor
    try:
        yield folder
    finally:
        del _HELD_LOCKS[folder]
        os.ftruncate(descriptor, 0)
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        os.close(descriptor)
