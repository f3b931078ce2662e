"""Store robustness and space: two builds at once on one root, builds killed with SIGKILL at
random points followed by a clean rebuild, corrupted blobs, prune and system df."""
import json
import os
import random
import signal
import subprocess
import time

import pytest

from conftest import CBUILD, mountinfo


def write_ctx(path, dockerfile, files=None):
    path.mkdir(parents=True, exist_ok=True)
    (path / "Dockerfile").write_text(dockerfile)
    for name, data in (files or {}).items():
        (path / name).write_text(data)
    return path


def leftovers(root):
    """Ingest files, active snapshots and mounts a dead process could leave behind."""
    out = []
    for sub in ("ingest", "active"):
        d = os.path.join(root, sub)
        if os.path.isdir(d):
            out += [os.path.join(sub, n) for n in os.listdir(d)]
    out += [m for m in mountinfo() if root in m[0]]
    return out


SHARED = "FROM busybox\nRUN echo shared > /shared\nRUN echo second > /second\n"


def test_two_builds_at_once_share_steps(base, tmp_path):
    a = write_ctx(tmp_path / "a", SHARED + "RUN echo A > /who\n")
    b = write_ctx(tmp_path / "b", SHARED + "RUN echo B > /who\n")
    procs = [subprocess.Popen([CBUILD, "--root", base.root, "build", "--progress", "plain", "-t", t, str(c)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for t, c in (("img-a", a), ("img-b", b))]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out
    assert base("run", "--rm", "img-a", "cat", "/shared", "/who").stdout == "shared\nA\n"
    assert base("run", "--rm", "img-b", "cat", "/second", "/who").stdout == "second\nB\n"
    assert leftovers(base.root) == []
    # Both images share the layers of the common steps.
    la = json.loads(base("inspect", "img-a").stdout)
    lb = json.loads(base("inspect", "img-b").stdout)
    la = la[0] if isinstance(la, list) else la
    lb = lb[0] if isinstance(lb, list) else lb
    assert json.dumps(la).count("sha256") > 0 and json.dumps(lb).count("sha256") > 0


def test_sigkill_at_random_points_then_clean_rebuild(base, tmp_path):
    ctx = write_ctx(tmp_path / "k", "FROM busybox\nRUN dd if=/dev/zero of=/big bs=1k count=4096 2>/dev/null\n"
                    "COPY data.txt /data.txt\nRUN sleep 0.3; echo done > /done\n", {"data.txt": "payload\n"})
    rng = random.Random(1234)
    for i in range(6):
        p = subprocess.Popen([CBUILD, "--root", base.root, "build", "--no-cache", "-t", "killed", str(ctx)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(rng.uniform(0.05, 1.5))
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
    # Leftovers of dead processes are cleaned by the next start; the rebuild succeeds.
    base("build", "-t", "killed", str(ctx))
    assert base("run", "--rm", "killed", "cat", "/data.txt", "/done").stdout == "payload\ndone\n"
    assert leftovers(base.root) == []


def test_corrupted_blob_is_reported_and_dropped(base, tmp_path):
    out = tmp_path / "img.tar"
    inspect = json.loads(base("inspect", "busybox").stdout)
    inspect = inspect if isinstance(inspect, list) else [inspect]
    text = json.dumps(inspect)
    import re
    layer = None
    for d in re.findall(r"sha256:[0-9a-f]{64}", text):
        p = os.path.join(base.root, "blobs", "sha256", d.split(":")[1])
        if os.path.exists(p) and d != inspect[0].get("ManifestDigest"):
            layer = d
            break
    assert layer, text
    path = os.path.join(base.root, "blobs", "sha256", layer.split(":")[1])
    with open(path, "r+b") as f:
        f.seek(1000)
        f.write(b"CORRUPT")
    r = base("save", "busybox", "-o", str(out), check=False)
    assert r.returncode != 0
    assert layer in r.stderr, r.stderr
    assert not os.path.exists(path), "a corrupted blob must be dropped"


def test_prune_and_system_df(base, tmp_path):
    ctx = write_ctx(tmp_path / "p", "FROM busybox\nRUN echo one > /one\nRUN echo two > /two\n")
    base("build", "-t", "keep", str(ctx))
    df = base("system", "df").stdout
    assert df.splitlines()[0].split()[:3] == ["TYPE", "TOTAL", "ACTIVE"]
    assert "Build Cache" in df and "Images" in df and "Layers" in df
    rows = [json.loads(l) for l in base("system", "df", "--format", "json").stdout.splitlines()]
    assert {r["Type"] for r in rows} == {"Images", "Layers", "Build Cache"}
    # Prune keeps everything a tagged image uses.
    base("prune", "--all")
    assert base("run", "--rm", "keep", "cat", "/one", "/two").stdout == "one\ntwo\n"
    # Untagged: --all frees the layers; the base stays.
    base("rmi", "keep")
    before = {r["Type"]: r for r in (json.loads(l) for l in base("system", "df", "--format", "json").stdout.splitlines())}
    out = base("prune", "--all").stdout
    assert "Total reclaimed space:" in out
    after = {r["Type"]: r for r in (json.loads(l) for l in base("system", "df", "--format", "json").stdout.splitlines())}
    assert after["Layers"]["TotalCount"] < before["Layers"]["TotalCount"]
    assert after["Build Cache"]["TotalCount"] == 0
    assert base("run", "--rm", "busybox", "true").returncode == 0
    r = base("prune", "--keep-storage", "lots", check=False)
    assert r.returncode != 0 and "invalid size" in r.stderr


def test_prune_during_a_build_keeps_what_the_build_uses(base, tmp_path):
    # The first build's layers end up referenced by nothing but cache records (its image is
    # removed); the second build takes /one from the cache, then runs a slow step while
    # `prune --all` drops every record. The build's lease keeps the layer it uses.
    ctx = write_ctx(tmp_path / "w", "FROM busybox\nRUN echo one > /one\nRUN echo two > /two\n")
    base("build", "-t", "first", str(ctx))
    base("rmi", "first")
    ctx = write_ctx(tmp_path / "w", "FROM busybox\nRUN echo one > /one\nRUN sleep 3; echo slow > /slow\n")
    build = subprocess.Popen([CBUILD, "--root", base.root, "build", "--progress", "plain", "-t", "slow", str(ctx)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    for line in build.stdout:
        seen.append(line)
        if "RUN sleep 3" in line:
            break
    t0 = time.monotonic()
    pr = base("prune", "--all")
    assert time.monotonic() - t0 < 2.5, "prune must not wait for the build"
    assert "waiting" not in pr.stderr
    out = "".join(seen) + build.stdout.read()
    assert build.wait(timeout=120) == 0, out
    assert base("run", "--rm", "slow", "cat", "/one", "/slow").stdout == "one\nslow\n"
    # Once the build is over, its lease is gone: the next prune may take the cache's layers.
    assert os.listdir(os.path.join(base.root, "leases")) == []


def test_build_network_flag_sets_the_run_default_and_the_key(base, tmp_path):
    ctx = write_ctx(tmp_path / "n", "FROM busybox\nRUN cat /proc/net/dev > /netdev\n"
                    "RUN --network=host echo host > /h\n")
    out = base("build", "--progress", "plain", "--network", "none", "-t", "net-none", str(ctx)).stderr
    netdev = base("run", "--rm", "net-none", "cat", "/netdev").stdout
    assert "lo:" in netdev and "tap0" not in netdev and "eth0" not in netdev
    # Another default network is another cache key (as in BuildKit); the same one hits.
    again = base("build", "--progress", "plain", "--network", "none", str(ctx)).stderr
    assert again.count("CACHED") == 3, again
    other = base("build", "--progress", "plain", "--network", "host", str(ctx)).stderr
    assert "#2 CACHED" not in other, other
    bad = base("build", "--network", "bridge", str(ctx), check=False)
    assert bad.returncode != 0 and "network" in bad.stderr
