"""Inspection of untrusted uploads has a bounded cost: zip bombs, lying headers and huge
modules are refused with a clear message, and what was learned is kept beside the stored
artifact so that it is never read again."""

from __future__ import annotations

import resource
import time
import zipfile
from pathlib import Path

import pytest

from headwater.artifacts.inspection import InspectionLimits, InvalidArtifact, inspect_artifact
from headwater.artifacts.store import JarStore

_MB = 1024 * 1024


def _zip_with_zeros(path: Path, member: str, size: int, extra: dict[str, bytes] | None = None):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
        with zf.open(member, "w", force_zip64=True) as out:
            chunk = b" " * _MB
            for _ in range(size // _MB):
                out.write(chunk)
    return path


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_a_member_announcing_more_than_the_cap_is_refused_unread(tmp_path):
    bomb = _zip_with_zeros(tmp_path / "bomb.zip", "job.py", 300 * _MB)
    assert bomb.stat().st_size < 1 * _MB
    rss_before = _max_rss_mb()
    started = time.monotonic()
    with pytest.raises(InvalidArtifact, match="web.upload.max-uncompressed-size"):
        inspect_artifact(bomb, "bomb.zip")
    assert time.monotonic() - started < 1.0  # refused on its header, nothing inflated
    assert _max_rss_mb() - rss_before < 50


def test_a_member_inflating_beyond_the_ratio_is_refused_while_streaming(tmp_path):
    bomb = _zip_with_zeros(tmp_path / "ratio.zip", "job.py", 100 * _MB,
                           {"other.py": "def main():\n    pass\n"})
    rss_before = _max_rss_mb()
    with pytest.raises(InvalidArtifact, match="web.upload.max-compression-ratio"):
        inspect_artifact(bomb, "ratio.zip")
    assert _max_rss_mb() - rss_before < 50


def test_headers_that_lie_about_sizes_are_counted_as_inflated(tmp_path):
    """A forged header (small declared size) does not buy a larger inflation."""
    bomb = _zip_with_zeros(tmp_path / "liar.zip", "job.py", 20 * _MB)
    data = bytearray(bomb.read_bytes())
    with zipfile.ZipFile(bomb) as zf:
        info = zf.getinfo("job.py")
    # Rewrite the declared uncompressed size in the central directory's zip64 extra field
    # and the local header: both now claim 1 KiB.
    real = info.file_size.to_bytes(8, "little")
    assert data.count(real) >= 1
    data = data.replace(real, (1024).to_bytes(8, "little"))
    bomb.write_bytes(bytes(data))
    limits = InspectionLimits(max_uncompressed_size=8 * _MB, max_compression_ratio=10**9)
    with pytest.raises(InvalidArtifact):
        inspect_artifact(bomb, "liar.zip", limits)


def test_a_py_artifact_larger_than_the_module_cap_is_refused(tmp_path):
    big = tmp_path / "big.py"
    big.write_bytes(b"x = 1\n" * (1 * _MB))
    with pytest.raises(InvalidArtifact, match="web.upload.max-module-size"):
        inspect_artifact(big, "big.py", InspectionLimits(max_module_size=1 * _MB))


def test_a_large_module_in_a_zip_is_not_parsed_but_the_archive_stays_valid(tmp_path):
    path = tmp_path / "lib.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("job.py", '"""The job."""\ndef main():\n    pass\n')
        zf.writestr("generated.py", "".join(f"x{i} = {i * 7919 % 1000003}\n"
                                            for i in range(60_000)))
    info = inspect_artifact(path, "lib.zip", InspectionLimits(max_module_size=512 * 1024))
    assert [e.name for e in info.entries] == ["job"]


def test_limits_come_from_the_configuration():
    limits = InspectionLimits.from_config({"web.upload.max-uncompressed-size": 1000,
                                           "web.upload.max-compression-ratio": 7})
    assert (limits.max_uncompressed_size, limits.max_compression_ratio) == (1000, 7)
    assert limits.max_module_size == InspectionLimits().max_module_size


def test_stored_artifacts_are_not_read_again_after_a_restart(tmp_path, monkeypatch):
    store = JarStore(tmp_path / "upload")
    with store.staging() as (staged, f):
        f.write(b'"""Counts words."""\ndef main():\n    pass\n')
        f.flush()
        jar = store.commit(staged, "wc.py")
    assert [e.description for e in jar.info.entries] == ["Counts words."]

    def must_not_inspect(*_args, **_kwargs):
        raise AssertionError("a stored artifact was inspected again")

    monkeypatch.setattr("headwater.artifacts.store.inspect_artifact", must_not_inspect)
    restarted = JarStore(tmp_path / "upload")  # a new JobManager on the same directory
    listed = restarted.list()
    assert [j.id for j in listed] == [jar.id]
    assert listed[0].info == jar.info
    restarted.delete(jar.id)
    assert restarted.list() == []
    assert not any(p.name.endswith(".info") for p in (tmp_path / "upload").iterdir())
