"""Named images from ``assets/manifest.yaml``: fetched (or copied from a mirror) once, sha256-checked."""

from __future__ import annotations

import os
import shutil
import urllib.request
from functools import cache
from pathlib import Path

from omegaconf import OmegaConf

from nst.errors import NSTError
from nst.files import atomic_write, cache_dir, sha256_of

# assets/manifest.yaml, reached through the package (src/nst/manifest.yaml links to it; a wheel holds a copy).
MANIFEST = Path(__file__).resolve().parent / "manifest.yaml"


@cache
def manifest() -> dict[str, dict[str, str]]:
    data = OmegaConf.to_container(OmegaConf.load(MANIFEST), resolve=True)
    return data["images"]  # type: ignore[index,return-value]


def names(kind: str | None = None) -> list[str]:
    return [name for name, entry in manifest().items() if kind is None or entry["kind"] == kind]


def _find_in_mirror(mirror: Path, filename: str) -> Path | None:
    direct = mirror / filename
    if direct.is_file():
        return direct
    return next((p for p in sorted(mirror.rglob(filename)) if p.is_file()), None)


def _copy_checked(name: str, entry: dict[str, str], tmp: Path) -> None:
    """The image from the mirror (NST_ASSET_MIRROR) or its URL into ``tmp``, refused if its sha256 differs."""
    mirror = os.environ.get("NST_ASSET_MIRROR")
    if mirror:
        source = _find_in_mirror(Path(mirror), entry["file"])
        if source is None:
            offline = f"; {entry['offline']} fetches it" if entry.get("offline") else ""
            raise NSTError(f"asset '{name}': {entry['file']} not found in NST_ASSET_MIRROR={mirror}{offline}")
        shutil.copyfile(source, tmp)
        origin = str(source)
    else:
        try:
            with urllib.request.urlopen(entry["url"], timeout=30) as response, open(tmp, "wb") as out:
                shutil.copyfileobj(response, out)
        except OSError as err:
            offline = f", or run `{entry['offline']}`" if entry.get("offline") else ""
            raise NSTError(
                f"asset '{name}': cannot download {entry['url']} ({err}); "
                f"set NST_ASSET_MIRROR=DIR to a folder holding {entry['file']}{offline}"
            ) from None
        origin = entry["url"]
    digest = sha256_of(tmp)
    if digest != entry["sha256"]:
        raise NSTError(
            f"asset '{name}': {origin} has sha256 {digest[:16]}..., "
            f"expected {entry['sha256'][:16]}... (refusing a changed file)"
        )


def fetch(name: str) -> Path:
    """Local path of manifest image ``name``, fetching it into the cache first if needed."""
    entry = manifest()[name]
    target = cache_dir() / "assets" / entry["file"]
    if target.is_file() and sha256_of(target) == entry["sha256"]:
        return target
    atomic_write(target, lambda tmp: _copy_checked(name, entry, tmp))
    return target


def resolve(value: str) -> Path:
    """An image argument: an existing path, or a name from the manifest."""
    path = Path(str(value)).expanduser()
    if path.exists():
        return path
    if str(value) in manifest():
        return fetch(str(value))
    raise NSTError(
        f"image not found: '{value}' is neither a file nor a manifest name (names: {', '.join(names())})"
    )
