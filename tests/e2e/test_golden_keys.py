"""Golden cache keys: the per-step cache keys of a fixed set of Dockerfiles and contexts are pinned
in testdata/golden/keys.json. Any change of a key fails this test: a silent change would make every
user's cache miss once, and two different steps sharing one key would be far worse.

A deliberate change of the key format bumps the version in planner/cache_key.cc (the one place
that knows it) and regenerates the file:

    CBUILD_GOLDEN_UPDATE=1 python3 -m pytest tests/e2e/test_golden_keys.py

Everything a key depends on is fixed here: the base image is an OCI archive this test writes byte
for byte (its /bin/sh is a 129-byte ELF that exits 0, so RUN steps run without any distribution's
binaries), and every context file's content and mode is set by the test.
"""
import hashlib
import io
import json
import os
import struct
import subprocess
import tarfile

import pytest

from conftest import ROOT

GOLDEN = os.path.join(ROOT, "testdata", "golden")
KEYS = os.path.join(GOLDEN, "keys.json")
UPDATE = os.environ.get("CBUILD_GOLDEN_UPDATE") == "1"


def tiny_exit0_elf():
    """A static x86-64 ELF executable: exit(0)."""
    code = bytes([0x31, 0xFF, 0xB8, 0x3C, 0, 0, 0, 0x0F, 0x05])  # xor edi,edi; mov eax,60; syscall
    base = 0x400000
    size = 64 + 56 + len(code)
    ehdr = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8
    ehdr += struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, base + 120, 64, 0, 0, 64, 56, 1, 0, 0, 0)
    phdr = struct.pack("<IIQQQQQQ", 1, 5, 0, base, base, size, size, 0x1000)
    return ehdr + phdr + code


def _tar(entries):
    """A deterministic ustar stream: entries are (name, type, mode, data)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, typ, mode, data in entries:
            ti = tarfile.TarInfo(name)
            ti.mode, ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = mode, 0, 0, 0, "", ""
            if typ == "dir":
                ti.type = tarfile.DIRTYPE
                t.addfile(ti)
            else:
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def write_base_archive(path):
    """An OCI archive named golden-base:1: one uncompressed layer with /bin/sh = exit 0."""
    elf = tiny_exit0_elf()
    layer = _tar([("bin/", "dir", 0o755, b""), ("bin/sh", "file", 0o755, elf),
                  ("bin/true", "file", 0o755, elf), ("etc/", "dir", 0o755, b""), ("tmp/", "dir", 0o1777, b"")])
    ldig = hashlib.sha256(layer).hexdigest()
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + ldig]},
        "history": [{"created_by": "golden base"}],
    }, sort_keys=True, separators=(",", ":")).encode()
    cdig = hashlib.sha256(config).hexdigest()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + cdig,
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:" + ldig,
                    "size": len(layer)}],
    }, sort_keys=True, separators=(",", ":")).encode()
    mdig = hashlib.sha256(manifest).hexdigest()
    index = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + mdig,
                       "size": len(manifest),
                       "annotations": {"org.opencontainers.image.ref.name": "1",
                                       "io.containerd.image.name": "docker.io/library/golden-base:1"}}],
    }, sort_keys=True, separators=(",", ":")).encode()
    entries = [("oci-layout", "file", 0o644, b'{"imageLayoutVersion":"1.0.0"}'),
               ("index.json", "file", 0o644, index),
               ("blobs/", "dir", 0o755, b""), ("blobs/sha256/", "dir", 0o755, b"")]
    for d, data in ((ldig, layer), (cdig, config), (mdig, manifest)):
        entries.append(("blobs/sha256/" + d, "file", 0o644, data))
    with open(path, "wb") as f:
        f.write(_tar(entries))
    return "sha256:" + mdig


# Each case: a Dockerfile under testdata/golden/<case>/, a context (name -> (mode, bytes)), build args.
CONTEXTS = {
    "files": {
        "a.txt": (0o644, b"alpha\n"),
        "b.txt": (0o600, b"bravo\n"),
        "run.sh": (0o755, b"#!/bin/sh\necho run\n"),
        "dir/one": (0o644, b"one\n"),
        "dir/sub/two": (0o644, b"two\n"),
        "notes.md": (0o644, b"notes\n"),
        "secret.env": (0o600, b"TOKEN=1\n"),
        ".dockerignore": (0o644, b"secret.env\n*.tmp\n"),
        "skip.tmp": (0o644, b"ignored\n"),
    },
}

CASES = {
    "scratch-config": ("files", {}),
    "scratch-copy": ("files", {}),
    "run-steps": ("files", {"VERSION": "1.2.3", "UNUSED": "x"}),
    "multistage": ("files", {}),
}


def make_context(path, files):
    os.makedirs(path, exist_ok=True)
    for name, (mode, data) in files.items():
        p = os.path.join(path, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        os.chmod(p, mode)
    for dirpath, dirnames, _ in os.walk(path):
        for d in dirnames:
            os.chmod(os.path.join(dirpath, d), 0o755)
    os.chmod(path, 0o755)


@pytest.fixture
def golden_base(cbuild, tmp_path):
    archive = tmp_path / "golden-base.tar"
    write_base_archive(str(archive))
    cbuild("load", "-i", str(archive))
    return cbuild


def keys_of(cbuild, case, tmp_path):
    ctx_name, build_args = CASES[case]
    ctx = tmp_path / ("ctx-" + case)
    make_context(str(ctx), CONTEXTS[ctx_name])
    meta = tmp_path / (case + ".json")
    args = ["build", "--progress", "plain", "-f", os.path.join(GOLDEN, case, "Dockerfile"),
            "--metadata-file", str(meta)]
    for k, v in sorted(build_args.items()):
        args += ["--build-arg", f"{k}={v}"]
    cbuild(*args, str(ctx))
    with open(meta) as f:
        steps = json.load(f)["steps"]
    return [{"n": s["n"], "instruction": s["instruction"], "cache_key": s["cache_key"]} for s in steps]


def test_base_fixture_is_byte_stable(tmp_path):
    """The fixture itself: if this fails, the golden keys below changed because the base did."""
    digest = write_base_archive(str(tmp_path / "b.tar"))
    if UPDATE:
        return
    with open(KEYS) as f:
        want = json.load(f)["base_manifest"]
    assert digest == want, "the golden base image's bytes changed; every key below would"


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_keys(golden_base, tmp_path, case):
    got = keys_of(golden_base, case, tmp_path)
    # No two steps share a key (a FROM <stage> step has its stage's key: the same filesystem).
    own = [s["cache_key"] for s in got if not s["instruction"].upper().startswith("FROM ")]
    assert len(set(own)) == len(own), f"two steps of {case} share a key: {got}"
    if UPDATE:
        data = {}
        if os.path.exists(KEYS):
            with open(KEYS) as f:
                data = json.load(f)
        data["base_manifest"] = write_base_archive(str(tmp_path / "b.tar"))
        data.setdefault("cases", {})[case] = got
        with open(KEYS, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
        return
    with open(KEYS) as f:
        want = json.load(f)["cases"][case]
    for w, g in zip(want, got):
        assert (w["instruction"], w["cache_key"]) == (g["instruction"], g["cache_key"]), (
            f"{case} step #{g['n']} `{g['instruction']}`: cache key changed\n  pinned {w['cache_key']}\n"
            f"  now    {g['cache_key']}\nA deliberate key-format change bumps the version in "
            "planner/cache_key.cc and regenerates testdata/golden/keys.json (see this file's docstring).")
    assert len(want) == len(got), f"{case}: {len(got)} steps now, {len(want)} pinned"


def test_golden_keys_do_not_depend_on_the_root_or_context_path(golden_base, tmp_path, cbuild):
    """The same case built from another context directory gives the same keys."""
    a = keys_of(golden_base, "scratch-copy", tmp_path / "one")
    b = keys_of(golden_base, "scratch-copy", tmp_path / "two")
    assert a == b
