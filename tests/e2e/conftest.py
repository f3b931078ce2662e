"""Fixtures for end-to-end tests: the real cbuild binary, a fresh --root per test, the busybox base."""
import os
import shutil
import subprocess
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CBUILD = os.environ.get("CBUILD_BIN", os.path.join(ROOT, "build", "cli", "cbuild"))


def mountinfo():
    """The host's mounts, as a set of (mount point, fs type) pairs."""
    with open("/proc/self/mountinfo") as f:
        out = set()
        for line in f:
            parts = line.split()
            sep = parts.index("-")
            out.add((parts[4], parts[sep + 1]))
        return out


class Cbuild:
    """Runs the cbuild binary with its own --root."""

    def __init__(self, root):
        self.root = root

    def __call__(self, *args, check=True, input=None, timeout=300, env=None):
        e = dict(os.environ)
        e.update(env or {})
        p = subprocess.run([CBUILD, "--root", self.root, *args], input=input, capture_output=True,
                           text=True, timeout=timeout, env=e)
        if check and p.returncode != 0:
            raise AssertionError(f"cbuild {' '.join(args)} exited {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}")
        return p


@pytest.fixture(scope="session")
def busybox_tar(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("SKIPPED: end-to-end builds need root (mount namespaces, overlayfs)")
    out = tmp_path_factory.mktemp("base") / "busybox-rootfs.tar"
    subprocess.run([os.path.join(ROOT, "testdata", "base", "make-busybox-rootfs"), str(out)], check=True)
    return str(out)


@pytest.fixture
def cbuild(tmp_path):
    root = tempfile.mkdtemp(prefix="cbuild-root-", dir="/var/tmp")
    before = mountinfo()
    yield Cbuild(root)
    leaked = {m for m in mountinfo() - before if root in m[0]}
    shutil.rmtree(root, ignore_errors=True)
    assert not leaked, f"mounts left behind: {leaked}"


@pytest.fixture
def base(cbuild, busybox_tar):
    """A root that holds busybox:latest."""
    cbuild("import", busybox_tar, "busybox:latest")
    return cbuild


@pytest.fixture
def hello_ctx(tmp_path):
    dst = tmp_path / "hello"
    shutil.copytree(os.path.join(ROOT, "examples", "hello"), dst, symlinks=True)
    return dst


def add_big_file(ctx, mib=6):
    """Puts a `mib` MiB file (a third random, the rest text; the same bytes every run) into a build
    context, so that its COPY layer spans several parallel gzip blocks (1 MiB each)."""
    import random
    rng = random.Random(6)
    n = mib << 20
    text = b"".join(b"line %d of a big layer file\n" % i for i in range(n // 20))
    data = rng.randbytes(n // 3) + text[: n - n // 3]
    (ctx / "big.bin").write_bytes(data)
    return ctx
