"""Interop: cbuild's archives read by skopeo, umoci, runc, podman and docker; archives written by
buildah and podman loaded into cbuild and built upon. Gzip and zstd both. See docs/formats.md."""
import json
import os
import shutil
import signal
import subprocess
import tarfile
import time

import pytest

from conftest import add_big_file

HELLO_OUT = ("Hello from a cbuild image!\nbuilt on Linux by cbuild\n"
             "message: the context files made it into the image\n")


def need(*tools):
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        pytest.skip(f"SKIPPED: {', '.join(missing)} not installed (scripts/setup installs it)")


def run(*args, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 300)
    p = subprocess.run(list(args), **kw)
    if p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


@pytest.fixture
def hello(base, hello_ctx):
    # a 6 MiB file: the COPY layer spans several parallel gzip blocks
    add_big_file(hello_ctx)
    base("build", "-t", "hello", str(hello_ctx))
    return base


def short_dir(tmp_path, name):
    """podman and buildah refuse a runroot longer than 50 characters: a short one per test dir."""
    import hashlib
    d = f"/tmp/cb-{name}-{hashlib.sha256(str(tmp_path).encode()).hexdigest()[:10]}"
    os.makedirs(d, exist_ok=True)
    return d


def podman(tmp_path, *args, **kw):
    st = tmp_path / "podman"
    return run("podman", "--root", str(st / "root"), "--runroot", short_dir(tmp_path, "p"), "--storage-driver", "vfs",
               "--cgroup-manager", "cgroupfs", "--events-backend", "none", *args, **kw)


def podman_run(tmp_path, image, *cmd):
    return podman(tmp_path, "run", "--rm", "--runtime", "runc", "--network", "none", "--ulimit", "nofile=1024:1024",
                  "--ulimit", "nproc=1024:1024", image, *cmd).stdout


def buildah(tmp_path, *args, **kw):
    st = tmp_path / "buildah"
    return run("buildah", "--root", str(st / "root"), "--runroot", short_dir(tmp_path, "b"), "--storage-driver", "vfs", *args,
               **kw)


# --- cbuild → skopeo, umoci, runc -------------------------------------------------------------

@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_skopeo_inspects_and_copies_oci_archive(hello, tmp_path, compression):
    need("skopeo")
    archive = tmp_path / "hello.tar"
    hello("save", "hello", "--compression", compression, "-o", str(archive))
    raw = json.loads(run("skopeo", "inspect", "--raw", f"oci-archive:{archive}").stdout)
    assert raw["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert {l["mediaType"] for l in raw["layers"]} == {f"application/vnd.oci.image.layer.v1.tar+{compression}"}
    cfg = json.loads(run("skopeo", "inspect", "--config", f"oci-archive:{archive}").stdout)
    assert cfg["config"]["Cmd"] == ["/app/hello.sh"] and len(cfg["rootfs"]["diff_ids"]) == 4
    # skopeo copy verifies every blob; copying to a layout and to a docker-archive must work.
    run("skopeo", "copy", f"oci-archive:{archive}", f"oci:{tmp_path}/layout:hello")
    if compression == "gzip":  # skopeo refuses zstd layers in docker images ("not supported")
        run("skopeo", "copy", f"oci-archive:{archive}", f"docker-archive:{tmp_path}/d.tar:hello:latest")
    assert (tmp_path / "layout" / "index.json").exists()


def test_skopeo_reads_docker_archive(hello, tmp_path):
    need("skopeo")
    archive = tmp_path / "hello-docker.tar"
    hello("save", "hello", "--format", "docker", "-o", str(archive))
    info = json.loads(run("skopeo", "inspect", f"docker-archive:{archive}").stdout)
    assert len(info["Layers"]) == 4
    with tarfile.open(archive) as t:
        manifest = json.load(t.extractfile("manifest.json"))
        assert "repositories" in t.getnames()
    assert manifest[0]["RepoTags"] == ["hello:latest"]
    run("skopeo", "copy", f"docker-archive:{archive}", f"oci:{tmp_path}/layout:hello")


# Debian's umoci 0.4.7 has no zstd ("blob is not correct mediatype"); podman covers zstd below.
@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_umoci_unpack_and_runc_run(hello, tmp_path, compression):
    need("umoci", "runc")
    archive = tmp_path / "hello.tar"
    hello("save", "hello", "--compression", compression, "-o", str(archive))
    layout = tmp_path / "layout"
    layout.mkdir()
    with tarfile.open(archive) as t:
        t.extractall(layout)
    bundle = tmp_path / "bundle"
    ref = json.loads((layout / "index.json").read_text())["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]
    run("umoci", "unpack", "--image", f"{layout}:{ref}", str(bundle))
    assert (bundle / "rootfs" / "app" / "built.txt").read_text() == "built on Linux by cbuild\n"
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["process"]["terminal"] = False
    (bundle / "config.json").write_text(json.dumps(cfg))
    state = tmp_path / "runc-state"
    name = f"cbuild-interop-{os.getpid()}-{compression}"
    try:
        out = run("runc", "--root", str(state), "run", "--bundle", str(bundle), name, stdin=subprocess.DEVNULL).stdout
    finally:
        subprocess.run(["runc", "--root", str(state), "delete", "--force", name], capture_output=True)
    assert out == HELLO_OUT


# --- cbuild → podman, docker ------------------------------------------------------------------

@pytest.mark.parametrize("fmt,compression", [("oci", "gzip"), ("oci", "zstd"), ("docker", "none"), ("docker", "gzip")])
def test_podman_loads_and_runs(hello, tmp_path, fmt, compression):
    need("podman", "runc")
    archive = tmp_path / "hello.tar"
    hello("save", "hello", "--format", fmt, "--compression", compression, "-o", str(archive))
    podman(tmp_path, "load", "-i", str(archive))
    ids = podman(tmp_path, "images", "-q", "--no-trunc").stdout.split()
    assert len(ids) == 1, ids
    assert podman_run(tmp_path, ids[0]) == HELLO_OUT


@pytest.fixture(scope="module")
def dockerd(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("SKIPPED: dockerd needs root")
    need("dockerd")
    client = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else shutil.which("docker")
    if not client:
        pytest.skip("SKIPPED: docker client not installed (docker.io)")
    d = tmp_path_factory.mktemp("dockerd")
    sock = d / "docker.sock"
    (d / "daemon.json").write_text(json.dumps({"bridge": "none", "iptables": False, "ip-forward": False,
                                               "ip-masq": False, "storage-driver": "vfs"}))
    log = open(d / "dockerd.log", "w")
    p = subprocess.Popen(["dockerd", "--config-file", str(d / "daemon.json"), "--data-root", str(d / "data"),
                          "--exec-root", str(d / "exec"), "--pidfile", str(d / "dockerd.pid"),
                          "-H", f"unix://{sock}", "--containerd-namespace", "cbuild-test",
                          "--containerd-plugins-namespace", "cbuild-test-plugins"],
                         stdout=log, stderr=log, start_new_session=True)
    env = dict(os.environ, DOCKER_HOST=f"unix://{sock}")
    for _ in range(120):
        if subprocess.run([client, "version"], env=env, capture_output=True).returncode == 0:
            break
        if p.poll() is not None:
            break
        time.sleep(0.5)
    else:
        p.send_signal(signal.SIGTERM)
    if p.poll() is not None:
        pytest.fail(f"dockerd did not start:\n{(d / 'dockerd.log').read_text()[-3000:]}")
    yield lambda *a, **kw: run(client, *a, env=env, **kw)
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    subprocess.run(["umount", "-R", str(d / "exec")], capture_output=True)
    shutil.rmtree(d, ignore_errors=True)


# docker 20.10's `load` reads docker-archives only (OCI archives arrived in docker 25).
@pytest.mark.parametrize("fmt,compression", [("docker", "none"), ("docker", "gzip")])
def test_docker_loads_and_runs(hello, tmp_path, dockerd, fmt, compression):
    archive = tmp_path / "hello.tar"
    hello("save", "hello", "--format", fmt, "--compression", compression, "-o", str(archive))
    out = dockerd("load", "-i", str(archive)).stdout
    assert "Loaded image" in out, out
    ref = "hello:latest" if "hello:latest" in out else out.split()[-1]
    assert dockerd("run", "--rm", "--network", "none", ref).stdout == HELLO_OUT
    dockerd("rmi", "-f", ref)


def test_docker_save_loads_into_cbuild(hello, tmp_path, dockerd):
    archive = tmp_path / "hello.tar"
    hello("save", "hello", "--format", "docker", "-o", str(archive))
    dockerd("load", "-i", str(archive))
    dockerd("tag", "hello:latest", "fromdocker:1")
    dockerd("save", "-o", str(tmp_path / "back.tar"), "fromdocker:1")
    dockerd("rmi", "-f", "hello:latest", "fromdocker:1")
    assert "Loaded image: fromdocker:1" in hello("load", "-i", str(tmp_path / "back.tar")).stdout
    assert hello("run", "--rm", "fromdocker:1").stdout == HELLO_OUT


# --- buildah / podman → cbuild ----------------------------------------------------------------

@pytest.fixture
def buildah_image(tmp_path, busybox_tar):
    need("buildah")
    ctx = tmp_path / "bctx"
    ctx.mkdir()
    shutil.copy(busybox_tar, ctx / "rootfs.tar")
    (ctx / "Dockerfile").write_text("FROM scratch\nADD rootfs.tar /\nRUN echo made by buildah > /marker\n"
                                    "CMD [\"cat\", \"/marker\"]\n")
    buildah(tmp_path, "bud", "--isolation", "chroot", "--network", "host", "-t", "localhost/frombuildah:1", str(ctx))
    return "localhost/frombuildah:1"


@pytest.mark.parametrize("dest,opts", [("oci-archive", []), ("oci-archive", ["--compression-format", "zstd"]),
                                       ("docker-archive", [])])
def test_buildah_image_loads_and_builds_on(base, tmp_path, buildah_image, dest, opts):
    archive = tmp_path / "b.tar"
    target = f"{dest}:{archive}:{buildah_image}" if dest == "docker-archive" else f"{dest}:{archive}:{buildah_image}"
    buildah(tmp_path, "push", *opts, buildah_image, target)
    out = base("load", "-i", str(archive)).stdout
    assert "Loaded image" in out, out
    name = "localhost/frombuildah:1" if "frombuildah" in out else out.split()[-1]
    assert base("run", "--rm", name).stdout == "made by buildah\n"
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {name}\nRUN echo and cbuild >> /marker\n")
    base("build", "-t", "ontop", str(ctx))
    assert base("run", "--rm", "ontop").stdout == "made by buildah\nand cbuild\n"
    # and back out, for podman to run
    base("save", "ontop", "-o", str(tmp_path / "ontop.tar"))
    need("podman", "runc")
    podman(tmp_path, "load", "-i", str(tmp_path / "ontop.tar"))
    ids = podman(tmp_path, "images", "-q", "--no-trunc").stdout.split()
    assert podman_run(tmp_path, ids[0]) == "made by buildah\nand cbuild\n"


@pytest.mark.parametrize("fmt", ["oci-archive", "docker-archive"])
def test_podman_save_loads_into_cbuild(hello, tmp_path, fmt):
    need("podman")
    hello("save", "hello", "-o", str(tmp_path / "in.tar"))
    podman(tmp_path, "load", "-i", str(tmp_path / "in.tar"))
    ident = podman(tmp_path, "images", "-q", "--no-trunc").stdout.split()[0]
    podman(tmp_path, "tag", ident, "localhost/frompodman:2")
    podman(tmp_path, "save", "--format", fmt, "-o", str(tmp_path / "out.tar"), "localhost/frompodman:2")
    out = hello("load", "-i", str(tmp_path / "out.tar")).stdout
    assert "Loaded image" in out, out
    name = "localhost/frompodman:2" if "frompodman" in out else out.split()[-1]
    assert hello("run", "--rm", name).stdout == HELLO_OUT
