"""A damaged store (issue 22): blob files the test replaces by a symlink, a directory, a FIFO or
wrong bytes are never followed, never hang a verb, and are removed and remade by whichever verb
meets them; `cbuild system check [--repair]` finds and repairs every kind of damage."""
import json
import os
import shutil
import tarfile
import time

import pytest

KINDS = ["symlink", "dir", "fifo", "bytes"]


def blob_path(root, digest):
    return os.path.join(root, "blobs", "sha256", digest.split(":", 1)[1])


def damage(root, digest, kind, tmp_path):
    """Replaces blob `digest` by `kind`. The symlink points at a FIFO: reading through it would
    hang, so a verb that follows it fails the test by its timeout."""
    p = blob_path(root, digest)
    os.unlink(p)
    if kind == "symlink":
        fifo = str(tmp_path / f"fifo-{digest[7:19]}")
        if not os.path.exists(fifo):
            os.mkfifo(fifo)
        os.symlink(fifo, p)
    elif kind == "dir":
        os.makedirs(os.path.join(p, "sub"))
    elif kind == "fifo":
        os.mkfifo(p)
    else:
        with open(p, "wb") as f:
            f.write(b"wrong bytes")


def is_sound(root, digest):
    import hashlib
    p = blob_path(root, digest)
    if os.path.islink(p) or not os.path.isfile(p):
        return False
    with open(p, "rb") as f:
        return "sha256:" + hashlib.sha256(f.read()).hexdigest() == digest


def archive_manifest(path):
    """The manifest of a one-image OCI archive, and its digest."""
    with tarfile.open(path) as t:
        index = json.load(t.extractfile("index.json"))
        d = index["manifests"][0]["digest"]
        return d, json.load(t.extractfile("blobs/sha256/" + d[7:]))


@pytest.fixture
def cbuild_other(tmp_path):
    """A second, empty root."""
    import tempfile
    from conftest import Cbuild
    root = tempfile.mkdtemp(prefix="cbuild-root-", dir="/var/tmp")
    yield Cbuild(root)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def built(base, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo hello > /hello\n")
    base("build", "-t", "img", str(ctx))
    base.ctx = ctx
    return base


def inspect(cb, name):
    out = json.loads(cb("inspect", name).stdout)
    return out[0] if isinstance(out, list) else out


@pytest.mark.parametrize("kind", KINDS)
def test_a_damaged_layer_blob_is_remade_by_save(built, tmp_path, kind):
    first = tmp_path / "first.tar"
    built("save", "img", "-o", str(first))
    digest, manifest = archive_manifest(first)
    layer = manifest["layers"][-1]["digest"]
    assert is_sound(built.root, layer)
    damage(built.root, layer, kind, tmp_path)
    second = tmp_path / "second.tar"
    t0 = time.monotonic()
    built("save", "img", "-o", str(second), timeout=60)
    assert time.monotonic() - t0 < 30
    # Remade from the layer's snapshot: the same bytes, the same archive.
    assert archive_manifest(second)[0] == digest
    assert is_sound(built.root, layer)


@pytest.mark.parametrize("kind", KINDS)
def test_a_damaged_config_blob_is_an_error_naming_it_then_remade_by_a_build(built, kind, tmp_path):
    config = inspect(built, "img")["ConfigDigest"]
    damage(built.root, config, kind, tmp_path)
    r = built("inspect", "img", check=False, timeout=30)
    assert r.returncode != 0
    assert config in r.stderr and "corrupt" in r.stderr, r.stderr
    assert not os.path.lexists(blob_path(built.root, config)), "a corrupt blob must be removed"
    # A build that makes the same image writes the config again.
    built("build", "-t", "img", str(built.ctx))
    assert is_sound(built.root, config)
    assert built("run", "--rm", "img", "cat", "/hello").stdout == "hello\n"


def test_system_df_and_prune_never_follow_a_blob_symlink(built, tmp_path):
    first = tmp_path / "a.tar"
    built("save", "img", "-o", str(first))
    layer = archive_manifest(first)[1]["layers"][-1]["digest"]
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("not the store's\n")
    os.unlink(blob_path(built.root, layer))
    os.symlink(str(outside), blob_path(built.root, layer))
    built("system", "df", timeout=60)
    built("prune", "--all", timeout=60)
    assert (outside / "keep").read_text() == "not the store's\n"
    assert not os.path.lexists(blob_path(built.root, layer)) or is_sound(built.root, layer)


# --- cbuild system check [--repair] ---------------------------------------------------------

def check(cb, *args):
    return cb("system", "check", *args, check=False, timeout=120)


def snapshot_path(root, diff_id):
    return os.path.join(root, "snapshots", diff_id.split(":", 1)[1])


def test_check_says_a_fresh_store_is_sound(built):
    r = check(built)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no problems" in r.stdout and "is sound" in r.stdout
    assert "blobs" in r.stdout and "images" in r.stdout


@pytest.mark.parametrize("kind", KINDS)
def test_check_finds_a_damaged_layer_blob_and_repair_removes_it(built, tmp_path, kind):
    # A built image's compressed layer blob is made by save and named by a cache record only.
    first = tmp_path / "first.tar"
    built("save", "img", "-o", str(first))
    layer = archive_manifest(first)[1]["layers"][-1]["digest"]
    damage(built.root, layer, kind, tmp_path)
    r = check(built)
    assert r.returncode == 1, r.stdout + r.stderr
    assert layer in r.stdout and "corrupt" in r.stdout and "NOT sound" in r.stdout
    assert os.path.lexists(blob_path(built.root, layer)), "check without --repair changes nothing"
    r = check(built, "--repair")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"blob {layer} is corrupt" in r.stdout and "removed" in r.stdout
    assert not os.path.lexists(blob_path(built.root, layer))
    assert check(built).returncode == 0
    second = tmp_path / "second.tar"
    built("save", "img", "-o", str(second))  # made again from the snapshot: the same archive
    assert archive_manifest(second)[0] == archive_manifest(first)[0]


@pytest.mark.parametrize("kind", ["symlink", "bytes"])
def test_check_repair_remakes_a_loaded_images_layer_blob_from_its_snapshot(built, cbuild_other, tmp_path, kind):
    archive = tmp_path / "img.tar"
    built("save", "img", "-o", str(archive))
    cbuild_other("load", "-i", str(archive))
    layer = archive_manifest(archive)[1]["layers"][-1]["digest"]
    damage(cbuild_other.root, layer, kind, tmp_path)
    r = check(cbuild_other, "--repair")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "remade from its layer's snapshot" in r.stdout
    assert is_sound(cbuild_other.root, layer)
    assert check(cbuild_other).returncode == 0


@pytest.mark.parametrize("kind", KINDS)
def test_check_finds_a_damaged_config_and_repair_removes_the_unusable_tag(built, tmp_path, kind):
    config = inspect(built, "img")["ConfigDigest"]
    damage(built.root, config, kind, tmp_path)
    r = check(built)
    assert r.returncode == 1
    assert config in r.stdout and "image `" in r.stdout
    r = check(built, "--repair")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "tag removed" in r.stdout
    assert not os.path.lexists(blob_path(built.root, config))
    assert "img" not in built("images").stdout.split()
    assert check(built).returncode == 0
    built("build", "-t", "img", str(built.ctx))  # the next build makes it again
    assert check(built).returncode == 0
    assert built("run", "--rm", "img", "cat", "/hello").stdout == "hello\n"


def test_check_finds_a_layer_snapshot_replaced_by_a_symlink(built, tmp_path):
    diff_id = inspect(built, "img")["Layers"][-1]["diff_id"]
    path = snapshot_path(built.root, diff_id)
    elsewhere = tmp_path / "elsewhere"
    shutil.move(path, elsewhere)
    os.symlink(str(elsewhere), path)
    r = check(built)
    assert r.returncode == 1
    assert f"layer snapshot {diff_id}: a symbolic link" in r.stdout
    r = check(built, "--repair")
    assert r.returncode == 0, r.stdout + r.stderr
    assert os.path.isdir(elsewhere), "the link's target is not touched"
    assert not os.path.lexists(path)
    built("build", "-t", "img", str(built.ctx))
    assert check(built).returncode == 0
    assert built("run", "--rm", "img", "cat", "/hello").stdout == "hello\n"


def test_check_finds_records_of_a_missing_layer_and_junk_in_the_store(built):
    diff_id = inspect(built, "img")["Layers"][-1]["diff_id"]
    built("rmi", "img")
    shutil.rmtree(snapshot_path(built.root, diff_id))
    with open(os.path.join(built.root, "blobs", "sha256", "junk"), "w") as f:
        f.write("not a blob\n")
    r = check(built)
    assert r.returncode == 1
    assert f"cache record" in r.stdout and diff_id in r.stdout
    assert "`blobs/sha256/junk`" in r.stdout
    r = check(built, "--repair")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "record removed" in r.stdout
    assert check(built).returncode == 0
    out = built("build", "--progress", "plain", "-t", "img", str(built.ctx)).stderr
    assert "RUN echo hello" in out
    assert built("run", "--rm", "img", "cat", "/hello").stdout == "hello\n"


def test_check_help_says_what_it_checks(cbuild):
    r = cbuild("system", "check", "--help")
    assert "--repair" in r.stdout and "exit status" in r.stdout
