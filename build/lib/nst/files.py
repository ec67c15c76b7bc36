"""Small file rules written once: atomic writes, checksums and the cache folder."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nst.errors import WriteFailed


def cache_dir() -> Path:
    """Converted weights and fetched images: $NST_CACHE, else $XDG_CACHE_HOME/nst, else ~/.cache/nst."""
    root = os.environ.get("NST_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "nst"
    )
    return Path(root)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write(path: Path, write: Callable[[Path], Any]) -> Path:
    """``write(tmp)`` to a temporary name beside ``path``, then rename: readers never see half a file.

    Any OSError (disk full, folder gone, permission lost) becomes WriteFailed naming ``path``; the
    temporary file is removed and an older ``path`` is left as it was.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        os.replace(tmp, path)
    except OSError as err:
        raise WriteFailed(path, err) from None
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
    return path


def write_text(path: Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def write_json(path: Path, data: dict[str, Any]) -> Path:
    return write_text(path, json.dumps(data, indent=2) + "\n")
