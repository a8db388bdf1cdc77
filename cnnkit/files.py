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
