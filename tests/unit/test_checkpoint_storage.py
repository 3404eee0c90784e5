"""Checkpoint storage by URL: local paths keep their behaviour, ``memory://`` (fsspec)
stands for any object store; ``_metadata`` is never seen half-written and discard
removes everything."""

from __future__ import annotations

import os
import pickle
import threading
import uuid

import pytest

from headwater.runtime import filesystem
from headwater.runtime.checkpoint import storage
from headwater.runtime.checkpoint.storage import CheckpointMetadata, CheckpointStorageError


def _meta(checkpoint_id: int = 3, vertices: dict | None = None) -> CheckpointMetadata:
    return CheckpointMetadata(version=storage.METADATA_VERSION, job_id="a" * 32,
                              checkpoint_id=checkpoint_id, timestamp=1, is_savepoint=False,
                              vertices=vertices or {"v": {"files": ["v-0.state"]}})


@pytest.fixture(params=["local", "memory"])
def base(request, tmp_path):
    if request.param == "local":
        yield str(tmp_path / "checkpoints")
        return
    url = f"memory://headwater-tests/{uuid.uuid4().hex}"
    yield url
    filesystem.remove_tree(url)


def test_a_checkpoint_round_trips_and_discard_removes_everything(base):
    directory = storage.checkpoint_dir(base, "a" * 32, 7)
    assert directory.endswith(f"{'a' * 32}/chk-7")
    size = storage.write_state(directory, "v-0.state", pickle.dumps({"operators": {"x": 1}}))
    assert size > 0
    storage.write_metadata(directory, _meta(7))
    location, meta = storage.read_metadata(directory)
    assert location == directory and meta.checkpoint_id == 7
    # the _metadata file itself names the checkpoint too
    assert storage.read_metadata(filesystem.join(directory, storage.METADATA))[0] == directory
    assert storage.read_state(directory, "v-0.state") == {"operators": {"x": 1}}
    storage.discard(directory)
    assert not filesystem.exists(directory)
    with pytest.raises(CheckpointStorageError, match="does not exist"):
        storage.read_metadata(directory)
    storage.discard(directory)  # already gone: nothing to do


def test_without_metadata_it_is_not_a_checkpoint(base):
    directory = storage.checkpoint_dir(base, "b" * 32, 1)
    storage.write_state(directory, "v-0.state", b"x")
    with pytest.raises(CheckpointStorageError, match="no _metadata file"):
        storage.read_metadata(directory)
    with pytest.raises(CheckpointStorageError, match="is missing"):
        storage.read_state(directory, "v-1.state")


def test_savepoint_dirs_are_fresh_and_keep_the_scheme(base):
    a = storage.new_savepoint_dir(base, "c" * 32)
    b = storage.new_savepoint_dir(base, "c" * 32)
    assert a != b and filesystem.split(a)[1].startswith("savepoint-cccccc-")
    assert filesystem.protocol_of(a) == filesystem.protocol_of(base)


def test_a_reader_never_sees_a_partial_metadata(base):
    directory = storage.checkpoint_dir(base, "d" * 32, 1)
    big = {f"v{i}": {"files": ["x" * 200] * 50} for i in range(40)}  # ~400 KB
    storage.write_metadata(directory, _meta(1, big))
    seen, errors, stop = [], [], threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                seen.append(storage.read_metadata(directory)[1].checkpoint_id)
            except CheckpointStorageError as exc:  # corrupt = half-written
                errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for n in range(2, 40):
            storage.write_metadata(directory, _meta(n, big))
    finally:
        stop.set()
        reader.join()
    assert not errors
    assert seen and all(1 <= n < 40 for n in seen)


def test_a_failed_local_write_leaves_neither_a_partial_nor_a_temporary_file(tmp_path,
                                                                          monkeypatch):
    storage.write_metadata(str(tmp_path), _meta(1))
    before = (tmp_path / storage.METADATA).read_bytes()

    def crash(fd):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(CheckpointStorageError, match="disk gone"):
        storage.write_metadata(str(tmp_path), _meta(2))
    assert (tmp_path / storage.METADATA).read_bytes() == before  # the old one, whole
    assert [p.name for p in tmp_path.iterdir()] == [storage.METADATA]


def test_local_locations_print_as_flink_does(tmp_path):
    assert storage.to_url(str(tmp_path)) == f"file:{tmp_path}"
    assert storage.to_url(f"file://{tmp_path}") == f"file:{tmp_path}"
    assert storage.location_of(f"file:{tmp_path}") == str(tmp_path)
    assert storage.to_url("s3://bucket/x") == "s3://bucket/x"
    assert storage.to_path(f"file:///{tmp_path}").resolve() == tmp_path


def test_a_local_write_leaves_no_temporary_file(tmp_path):
    storage.write_state(str(tmp_path), "v-0.state", b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v-0.state"]


def test_unknown_schemes_and_unwritable_locations_are_refused(tmp_path):
    with pytest.raises(CheckpointStorageError, match="unknown file system scheme 'foo'"):
        storage.check_location("foo://x/y")
    with pytest.raises(CheckpointStorageError, match="unknown file system scheme"):
        storage.checkpoint_dir("foo://x", "e" * 32, 1)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(CheckpointStorageError, match="not writable"):
        storage.check_location(str(blocker / "sub"), "state.checkpoints.dir")
    storage.check_location(str(tmp_path / "fresh"))  # created and writable
    assert [p.name for p in (tmp_path / "fresh").iterdir()] == []
    storage.check_location("memory://headwater-tests/probe")


def test_s3_settings_come_from_flink_keys():
    try:
        filesystem.configure({"s3.endpoint": "http://127.0.0.1:9", "s3.access-key": "k",
                              "s3.secret-key": "s", "s3.path.style.access": "true"})
        assert filesystem.storage_options("s3") == {
            "use_listings_cache": False, "client_kwargs": {"endpoint_url": "http://127.0.0.1:9"}, "key": "k",
            "secret": "s", "config_kwargs": {"s3": {"addressing_style": "path"}}}
    finally:
        filesystem.configure({})
    assert filesystem.storage_options("s3") == {"use_listings_cache": False}
