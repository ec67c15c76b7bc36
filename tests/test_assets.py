"""Images and clips by name (assets/manifest.yaml): fetched once into the cache, checked by sha256."""

from __future__ import annotations

import shutil

import pytest

from nst import assets
from nst.errors import NSTError
from nst.files import sha256_of


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NST_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "assets"


def test_a_name_is_copied_from_the_mirror_once_and_checked(tmp_path, monkeypatch, empty_cache):
    mirror = tmp_path / "mirror" / "deep"
    mirror.mkdir(parents=True)
    source = assets.resolve("tubingen")  # through the project's own mirror, into the empty cache
    shutil.move(source, mirror / source.name)
    monkeypatch.setenv("NST_ASSET_MIRROR", str(mirror.parent))  # searched recursively
    path = assets.resolve("tubingen")
    assert path == empty_cache / source.name and path.is_file()
    assert sha256_of(path) == assets.manifest()["tubingen"]["sha256"]
    (mirror / source.name).unlink()  # cached now: the mirror is not read again
    assert assets.resolve("tubingen") == path


def test_a_changed_file_in_the_mirror_is_refused(tmp_path, monkeypatch, empty_cache):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / assets.manifest()["the_scream"]["file"]).write_bytes(b"not the painting")
    monkeypatch.setenv("NST_ASSET_MIRROR", str(mirror))
    with pytest.raises(NSTError, match="refusing a changed file"):
        assets.resolve("the_scream")
    assert not (empty_cache / assets.manifest()["the_scream"]["file"]).exists()  # nothing half-written kept


def test_a_name_missing_from_the_mirror_says_how_to_fetch_it(tmp_path, monkeypatch, empty_cache):
    monkeypatch.setenv("NST_ASSET_MIRROR", str(tmp_path))
    with pytest.raises(NSTError, match=r"vtest.avi not found in NST_ASSET_MIRROR=.*; make clip fetches it"):
        assets.resolve("vtest")
    assert assets.manifest()["vtest"]["kind"] == "video" and "vtest" in assets.names("video")
    with pytest.raises(NSTError, match="neither a file nor a manifest name"):
        assets.resolve("no_such_name")
