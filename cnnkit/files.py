"""Small file helpers shared by every module: where data lives, checksums, atomic writes.

An *atomic* write goes to a temporary file in the same folder and is then renamed over the
target with ``os.replace``, so a reader (or a crash) never sees a half-written file and an
earlier good file is never lost.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
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
    """True when ``$CNNKIT_OFFLINE`` is on (:mod:`cnnkit.settings`' rule): no download is ever attempted."""
    from cnnkit.settings import flag

    return flag(OFFLINE_ENV_VAR)


def printable(text: str | os.PathLike) -> str:
    """``text`` (a path or a name taken from one) as text that can always be printed, drawn or
    written as UTF-8: bytes of a file name that are not UTF-8 (kept by Python as surrogate
    escapes) are shown as ``\\xe9``-style escapes."""
    return os.fsencode(text).decode("utf-8", "backslashreplace")


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
    # mkstemp creates the file private (0600); give it the mode any new file gets (0644 under
    # the usual umask 022), so a run folder shared with a colleague or a notebook server is readable.
    os.chmod(temporary, 0o666 & ~current_umask())
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def current_umask() -> int:
    """The process's file-mode creation mask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# mkstemp's names: the prefix atomic_path gives, then 8 characters from this alphabet.
_TEMPORARY_NAME = re.compile(r"^\..+-[a-z0-9_]{8}(\.[^.]*)?$")


def remove_orphaned_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that :func:`atomic_path` left in ``folder`` when its process was
    killed mid-write (``.model-k3j9x_2a.keras`` beside ``model.keras``); returns what was removed.

    Call it only while holding the folder's lock (:func:`folder_lock`): then no other process
    can be writing one of them.
    """
    removed = []
    for path in Path(folder).iterdir():  # the lock, ".lock", has no such name
        if _TEMPORARY_NAME.match(path.name) and path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def write_json(path: str | os.PathLike, payload: dict) -> None:
    """Write ``payload`` as indented JSON, atomically."""
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")


def read_hdf5_fully(path: str | os.PathLike) -> int:
    """Read every array of an HDF5 file (Keras weights, a training backup) and return how many
    there are; a file damaged anywhere raises (``OSError``, ``KeyError``, ``ValueError`` ...)."""
    import h5py

    with h5py.File(path, "r") as h5:
        arrays = []
        h5.visititems(lambda _, item: arrays.append(item) if isinstance(item, h5py.Dataset) else None)
        for array in arrays:
            array[()]
    return len(arrays)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8), atomically."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


# --- disk space -------------------------------------------------------------------------

DISK_FULL_ERRNOS = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def is_disk_full(error: BaseException) -> bool:
    """True for the errors a full disk (or an exhausted quota) raises, also when a library
    (h5py, Keras) reports it only in its message."""
    if isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS:
        return True
    text = str(error)
    return "No space left on device" in text or "errno = 28" in text or "Disk quota exceeded" in text


def megabytes(count: int) -> str:
    return f"{count / 1e6:,.1f} MB"


def require_free_space(folder: str | os.PathLike, needed: int, what: str) -> None:
    """Refuse, before writing, a step that needs ``needed`` bytes in ``folder`` when the disk
    holding it has less free (:class:`~cnnkit.errors.DiskFullError`, one line)."""
    import shutil

    from cnnkit.errors import DiskFullError

    free = shutil.disk_usage(folder).free
    if free < needed:
        raise DiskFullError(
            f"The disk holding {folder} has {megabytes(free)} free but {what} needs about {megabytes(needed)}; "
            "free some space or choose a folder on another disk."
        )


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
