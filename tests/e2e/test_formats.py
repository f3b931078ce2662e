"""save/load/--output and lazy compression, as a user sees them (docs/formats.md)."""
import hashlib
import io
import json
import os
import tarfile

import pytest

from conftest import Cbuild, add_big_file

HELLO_OUT = ("Hello from a cbuild image!\nbuilt on Linux by cbuild\n"
             "message: the context files made it into the image\n")


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture
def hello(base, hello_ctx):
    # a 6 MiB file: the COPY layer spans several parallel gzip blocks
    add_big_file(hello_ctx)
    base("build", "-t", "hello", str(hello_ctx))
    return base


def other_root(tmp_path, busybox_tar=None):
    cb = Cbuild(str(tmp_path / "other-root"))
    if busybox_tar:
        cb("import", busybox_tar, "busybox:latest")
    return cb


def test_build_writes_no_compressed_blobs(hello):
    info = json.loads(hello("inspect", "hello").stdout)[0]
    for layer in info["Layers"]:
        assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar"
        assert layer["digest"] == layer["diff_id"]
        assert not os.path.exists(os.path.join(hello.root, "blobs", "sha256", layer["digest"][7:]))


def test_docker_archive_round_trip_keeps_the_image_id(hello, tmp_path):
    digest = json.loads(hello("inspect", "hello").stdout)[0]["Id"]
    hello("save", "hello", "--format", "docker", "-o", str(tmp_path / "d.tar"))
    other = other_root(tmp_path)
    out = other("load", "-i", str(tmp_path / "d.tar")).stdout
    assert out == "Loaded image: hello:latest\n"
    assert json.loads(other("inspect", "hello").stdout)[0]["Id"] == digest
    assert other("run", "--rm", "hello").stdout == HELLO_OUT


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_oci_archive_round_trip(hello, tmp_path, compression):
    hello("save", "hello", "--compression", compression, "-o", str(tmp_path / "o.tar"))
    other = other_root(tmp_path)
    other("load", "-i", str(tmp_path / "o.tar"))
    assert other("run", "--rm", "hello").stdout == HELLO_OUT
    # and it can be built upon
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM hello\nRUN echo more >> /app/built.txt\n")
    other("build", "-t", "more", str(ctx))
    assert other("run", "--rm", "more", "cat", "/app/built.txt").stdout == "built on Linux by cbuild\nmore\n"


def test_save_is_deterministic_whichever_way_the_blob_was_made(hello, hello_ctx, busybox_tar, tmp_path):
    # Root 1 makes gzip first, then zstd by recompressing the gzip blob; root 2 diffs zstd directly.
    hello("save", "hello", "-o", str(tmp_path / "g1.tar"))
    hello("save", "hello", "--compression", "zstd", "-o", str(tmp_path / "z1.tar"))
    hello("save", "hello", "--compression", "zstd", "-o", str(tmp_path / "z1b.tar"))
    other = other_root(tmp_path, busybox_tar)
    other("build", "-t", "hello", str(hello_ctx))
    other("save", "hello", "--compression", "zstd", "-o", str(tmp_path / "z2.tar"))
    other("save", "hello", "-o", str(tmp_path / "g2.tar"))
    assert sha(tmp_path / "z1.tar") == sha(tmp_path / "z1b.tar") == sha(tmp_path / "z2.tar")
    assert sha(tmp_path / "g1.tar") == sha(tmp_path / "g2.tar")


def test_big_gzip_layer_is_one_reproducible_member(hello, tmp_path):
    # The 6 MiB COPY layer is compressed in parallel 1 MiB blocks; what a user gets is still one
    # plain gzip member that gzip(1) and zlib accept, with the layer's diff_id inside.
    import gzip
    import subprocess
    import zlib
    hello("save", "hello", "-o", str(tmp_path / "o.tar"))
    with tarfile.open(tmp_path / "o.tar") as t:
        index = json.load(t.extractfile("index.json"))
        blob = lambda d: t.extractfile("blobs/sha256/" + d.split(":")[1]).read()
        manifest = json.loads(blob(index["manifests"][0]["digest"]))
        config = json.loads(blob(manifest["config"]["digest"]))
        layers = [(l, blob(l["digest"])) for l in manifest["layers"]]
    desc, gz = max(layers, key=lambda x: x[0]["size"])
    assert desc["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    assert "sha256:" + hashlib.sha256(gz).hexdigest() == desc["digest"]
    assert gz[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"  # no name, no mtime, OS Unix
    d = zlib.decompressobj(31)
    tar = d.decompress(gz) + d.flush()
    assert d.eof and d.unused_data == b""  # exactly one member
    assert len(tar) > 6 << 20
    assert "sha256:" + hashlib.sha256(tar).hexdigest() in config["rootfs"]["diff_ids"]
    assert gzip.decompress(gz) == tar
    (tmp_path / "l.gz").write_bytes(gz)
    assert subprocess.run(["gzip", "-t", str(tmp_path / "l.gz")]).returncode == 0


def test_layers_made_at_once_give_the_same_archive_in_any_root(base, busybox_tar, tmp_path):
    # save compresses several layers at the same time (Store::EnsureBlobs); a layer that occurs
    # twice (same diff_id) is made once. The archive must not depend on any of that.
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    for i in range(3):
        (ctx / f"f{i}").write_bytes(bytes([65 + i]) * (3 << 20) + b"%d" % i)
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY f0 /d/\nCOPY f1 /d/\nCOPY f2 /d/\n"
                                    "COPY f0 /e/\nCOPY f0 /e/\n")
    for f in ctx.iterdir():
        os.utime(f, (1700000000, 1700000000))
    base("build", "-t", "many", str(ctx))
    base("save", "many", "-o", str(tmp_path / "a.tar"))
    other = other_root(tmp_path, busybox_tar)
    other("build", "-t", "many", str(ctx))
    other("save", "many", "-o", str(tmp_path / "b.tar"))
    assert sha(tmp_path / "a.tar") == sha(tmp_path / "b.tar")
    with tarfile.open(tmp_path / "a.tar") as t:
        index = json.load(t.extractfile("index.json"))
        m = json.load(t.extractfile("blobs/sha256/" + index["manifests"][0]["digest"][7:]))
    digests = [l["digest"] for l in m["layers"]]
    assert len(digests) == 6 and digests[4] == digests[5] and len(set(digests)) == 5
    third = Cbuild(str(tmp_path / "third-root"))
    third("load", "-i", str(tmp_path / "a.tar"))
    out = third("run", "--rm", "many", "sh", "-c", "wc -c /d/f0 /d/f1 /d/f2 /e/f0").stdout
    assert out.split()[:8:2] == [str((3 << 20) + 1)] * 4


def corrupt_member(src, dst, pick, mutate):
    """Copies tar `src` to `dst`, passing the first member that `pick` accepts through `mutate`."""
    done = False
    with tarfile.open(src) as t, tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as out:
        for m in t.getmembers():
            data = t.extractfile(m).read() if m.isfile() else None
            if data is not None and not done and pick(m, data):
                data = mutate(data)
                m.size = len(data)
                done = True
            out.addfile(m, io.BytesIO(data) if data is not None else None)
    assert done


def test_load_refuses_a_corrupt_blob_and_stores_nothing(hello, tmp_path):
    hello("save", "hello", "-o", str(tmp_path / "o.tar"))
    bad = tmp_path / "bad.tar"
    corrupt_member(tmp_path / "o.tar", bad, lambda m, d: m.name.startswith("blobs/") and d[:2] == b"\x1f\x8b",
                   lambda d: d[:-8] + bytes(8))
    other = other_root(tmp_path)
    p = other("load", "-i", str(bad), check=False)
    assert p.returncode == 1
    assert "sha256:" in p.stderr and ("digest" in p.stderr or "bytes" in p.stderr), p.stderr
    assert "hello" not in other("images").stdout
    assert not [f for f in os.listdir(os.path.join(other.root, "blobs", "sha256"))]


def test_load_refuses_a_layer_that_does_not_match_its_diff_id(hello, tmp_path):
    hello("save", "hello", "--format", "docker", "-o", str(tmp_path / "d.tar"))
    bad = tmp_path / "bad.tar"

    def flip(d):  # a valid tar with other content: same length, one byte changed in the data
        i = d.find(b"Hello from a cbuild image!")
        return d[:i] + b"J" + d[i + 1:]
    corrupt_member(tmp_path / "d.tar", bad, lambda m, d: m.name.endswith("layer.tar") and b"Hello from" in d, flip)
    other = other_root(tmp_path)
    p = other("load", "-i", str(bad), check=False)
    assert p.returncode == 1 and "diff_id" in p.stderr, p.stderr
    assert "hello" not in other("images").stdout


def test_load_rejects_what_is_not_an_image_archive(cbuild, tmp_path, busybox_tar):
    p = cbuild("load", "-i", busybox_tar, check=False)
    assert p.returncode == 1 and "neither an OCI archive" in p.stderr
    p = cbuild("load", "-i", str(tmp_path / "missing.tar"), check=False)
    assert p.returncode == 1 and "missing.tar" in p.stderr


def test_output_local_and_tar(base, hello_ctx, tmp_path):
    out = tmp_path / "rootfs"
    base("build", "--output", f"type=local,dest={out}", str(hello_ctx))
    assert (out / "app" / "built.txt").read_text() == "built on Linux by cbuild\n"
    assert os.access(out / "app" / "hello.sh", os.X_OK) and (out / "bin" / "busybox").exists()
    assert "hello" not in base("images").stdout  # --output without -t names nothing
    base("build", "--output", f"type=tar,dest={tmp_path / 'rootfs.tar'}", str(hello_ctx))
    with tarfile.open(tmp_path / "rootfs.tar") as t:
        assert t.extractfile("app/built.txt").read() == b"built on Linux by cbuild\n"
    base("build", "-o", str(tmp_path / "bare"), str(hello_ctx))
    assert (tmp_path / "bare" / "app" / "hello.sh").exists()


@pytest.mark.parametrize("typ", ["oci", "docker"])
def test_output_archives_load_back(base, hello_ctx, tmp_path, typ):
    dest = tmp_path / "img.tar"
    base("build", "-t", "named", "--output", f"type={typ},dest={dest},compression=zstd", str(hello_ctx))
    other = other_root(tmp_path)
    assert "Loaded image: named:latest" in other("load", "-i", str(dest)).stdout
    assert other("run", "--rm", "named").stdout == HELLO_OUT


def test_output_spec_errors_are_usage_errors(base, hello_ctx):
    for spec, word in [("type=zip,dest=x", "zip"), ("type=oci", "dest"), ("type=oci,dest=x,compression=lz4", "lz4"),
                       ("type=oci,dest=x,colour=red", "colour")]:
        p = base("build", "--output", spec, str(hello_ctx), check=False)
        assert p.returncode == 2 and word in p.stderr, (spec, p.stderr)
