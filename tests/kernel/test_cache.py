"""The proposal cache: whose code it loads, and what it does with a damaged entry.

A cache entry is a compiled module: whatever planted it runs as whoever loads it. So the
cache directory must be this user's and writable by nobody else (else: refused, with the
FLOWRACE_CACHE hint); an entry must be intact (a checksum beside it) or it is built
again; the key changes with anything that changes the build (here: the compiler).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kernel_model import FlowraceError
from kernel_model import variants as v
from kernel_model._build import csrc_dir

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def proposal(tmp_path) -> Path:
    path = tmp_path / "my_fix.c"
    shutil.copy(csrc_dir() / "template" / "proposal.c", path)
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv("FLOWRACE_CACHE", str(path))
    return path


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    full = os.environ | {"PYTHONPATH": str(ROOT)} | env
    return subprocess.run([sys.executable, "-m", "compare.cli", *args], capture_output=True,
                          text=True, env=full, timeout=600)


def _run_args(proposal: Path) -> list[str]:
    return ["run", "--driver", str(proposal), "--scenario", "lingering-rst", "--schedule",
            "leak", "--json"]


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o757])
def test_a_cache_directory_others_can_write_is_refused(proposal, cache, mode):
    cache.mkdir()
    cache.chmod(mode)
    with pytest.raises(FlowraceError, match="FLOWRACE_CACHE") as exc:
        v.build_variant(proposal)
    assert "writable by" in str(exc.value)
    proc = _cli(_run_args(proposal), {"FLOWRACE_CACHE": str(cache)})
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert "refusing the proposal cache" in proc.stderr
    assert not (cache / "modules").exists()  # nothing was built or loaded there


def test_the_cache_is_created_private(proposal, cache):
    v.build_variant(proposal)
    assert cache.stat().st_mode & 0o777 == 0o700
    assert (cache / "modules").stat().st_mode & 0o777 == 0o700


def test_a_planted_entry_others_can_write_is_refused_never_loaded(proposal, cache):
    entry = v.build_variant(proposal)
    # another user of a shared cache swaps in a module of theirs, writable by the group
    entry.chmod(0o775)
    with pytest.raises(FlowraceError, match="refusing the proposal cache entry") as exc:
        v.build_variant(proposal)
    assert "FLOWRACE_CACHE" in str(exc.value)
    proc = _cli(_run_args(proposal), {"FLOWRACE_CACHE": str(cache)})
    assert proc.returncode == 2 and "refusing the proposal cache entry" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_truncated_entry_is_built_again_not_loaded(proposal, cache):
    entry = v.build_variant(proposal)
    size = entry.stat().st_size
    with open(entry, "r+b") as f:
        f.truncate(size // 3)
    proc = _cli(_run_args(proposal), {"FLOWRACE_CACHE": str(cache)})
    assert proc.returncode == 1, proc.stderr  # the leak, as the template always has
    assert '"leak"' in proc.stdout
    assert entry.stat().st_size == size


def test_a_patched_entry_is_built_again(proposal, cache):
    entry = v.build_variant(proposal)
    data = bytearray(entry.read_bytes())
    data[len(data) // 2] ^= 0xFF
    entry.write_bytes(bytes(data))
    assert v.build_variant(proposal) == entry
    assert v._file_sha(entry) == entry.with_name(entry.name + ".sha256").read_text().strip()
    assert entry.read_bytes() != bytes(data)


def test_the_key_follows_the_compiler(proposal, cache, tmp_path, monkeypatch):
    """CC=clang (here: a wrapper, clang may not be installed) is another build: another
    key; and so is the same CC reporting another version."""
    wrapper = tmp_path / "fakecc"
    gcc = shutil.which("gcc") or shutil.which("cc")
    wrapper.write_text(f'#!/bin/sh\nif [ "$1" = --version ]; then echo "fakecc 1.0"; exit 0; fi\n'
                       f'exec {gcc} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.delenv("CC", raising=False)
    default = v.cache_key(proposal)
    monkeypatch.setenv("CC", "clang")
    assert v.cache_key(proposal) != default
    monkeypatch.setenv("CC", str(wrapper))
    first = v.cache_key(proposal)
    assert first not in (default,)
    wrapper.write_text(wrapper.read_text().replace("fakecc 1.0", "fakecc 2.0"))
    v._compilers.clear()  # a new process asks the compiler again
    assert v.cache_key(proposal) != first
    # and the build really goes through $CC, into an entry of its own
    built = v.build_variant(proposal)
    monkeypatch.delenv("CC")
    assert v.build_variant(proposal) != built


def test_the_key_follows_link_flags_and_included_files(proposal, cache, monkeypatch):
    base = v.cache_key(proposal)
    monkeypatch.setenv("LDFLAGS", "-Wl,-O1")
    assert v.cache_key(proposal) != base
    monkeypatch.delenv("LDFLAGS")
    helper = proposal.parent / "helper.h"
    helper.write_text("#define MY_SPIN 4\n")
    proposal.write_text(proposal.read_text().replace(
        '#include "flowdata.h"\n', '#include "flowdata.h"\n#include "helper.h"\n', 1))
    with_helper = v.cache_key(proposal)
    helper.write_text("#define MY_SPIN 5\n")
    assert v.cache_key(proposal) != with_helper


def test_a_tmpdir_on_another_file_system_works(proposal, cache):
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == cache.parent.stat().st_dev:
        pytest.skip("no second file system for TMPDIR (/dev/shm) here")
    tmpdir = shm / f"flowrace-test-{os.getpid()}"
    tmpdir.mkdir(exist_ok=True)
    try:
        proc = _cli(_run_args(proposal), {"FLOWRACE_CACHE": str(cache), "TMPDIR": str(tmpdir)})
        assert proc.returncode == 1, proc.stderr  # compiled, loaded, ran: the leak
        assert '"leak"' in proc.stdout
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def test_build_directories_of_killed_builds_are_cleaned(proposal, cache):
    stale = cache / "build" / "flowrace-build-999999999-abc"
    stale.mkdir(parents=True)
    (stale / "half.o").write_bytes(b"\0" * 100)
    cache.chmod(0o700)
    (cache / "build").chmod(0o700)
    v.build_variant(proposal)
    assert not stale.exists()
    assert not list((cache / "build").iterdir())  # ours is gone too
