"""The files a build saves beside its index (BM25 index, densities): atomic .npz writes and checked reads."""
from __future__ import annotations

import errno
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .errors import StorageFullError


def write(path: Path, **arrays: Any) -> None:
    """Write ``arrays`` to ``path`` through a temporary file, fsync and a rename; a full
    disk removes the temporary file and raises :class:`StorageFullError`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as out:
            np.savez(out, **arrays)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise StorageFullError(f"no space left on device while writing {path.name}; "
                                   "nothing was changed") from exc
        raise


def read(path: Path, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The arrays ``names`` of a file :func:`write` wrote; ``ValueError`` when it is cut
    short or not such a file, ``OSError`` when it cannot be read."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in names}
    except (zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise ValueError(f"damaged ({exc})") from exc
