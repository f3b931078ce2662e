"""Differential conformance: every case of testdata/conformance/ is built by cbuild and by
buildah 1.28 (`buildah bud --layers`, the busybox base imported from `cbuild save`); the root
filesystems (path, type, mode, uid, gid, size, content hash, link target) and the config fields
must match, up to the intentional differences listed in docs/compatibility.md. Cases buildah
cannot build ("peer": "expected") are checked against the expectations in their case.json, taken
from BuildKit's documentation; those expectations are checked for every case too.

Environment:
  CBUILD_CONF_STATE   where buildah's long-lived store and the peer-result cache live
                      (default /var/tmp/cbuild-conformance)
  CBUILD_CONF_NO_PEER_CACHE=1   rebuild every peer image instead of reusing stored results
"""
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile

import pytest

import conformance_lib as lib
from conftest import CBUILD, mountinfo

CASES = lib.load_cases()
STATE = os.environ.get("CBUILD_CONF_STATE", "/var/tmp/cbuild-conformance")
PEER_CACHE_VERSION = "v3"


def run(argv, timeout=300, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


class CbuildRunner:
    """cbuild with one --root for the whole session."""

    def __init__(self, root):
        self.root = root

    def __call__(self, *args, timeout=300):
        return run([CBUILD, "--root", self.root, *args], timeout=timeout)

    def build(self, ctx, dockerfile, tag, spec, extra_args, secrets):
        argv = ["build", "--progress", "plain", "-f", os.path.join(ctx, dockerfile), "-t", tag]
        for k, v in {**spec.get("build_args", {}), **extra_args}.items():
            argv += ["--build-arg", f"{k}={v}"]
        if spec.get("target"):
            argv += ["--target", spec["target"]]
        for sid, path in secrets.items():
            argv += ["--secret", f"id={sid},src={path}"]
        return self(*argv, ctx)

    def export(self, tag, work, want):
        archive = os.path.join(work, "cbuild.tar")
        p = self("save", tag, "-o", archive)
        if p.returncode != 0:
            raise AssertionError(f"cbuild save {tag} failed:\n{p.stderr}")
        layout = os.path.join(work, "cbuild-oci")
        with tarfile.open(archive) as t:
            t.extractall(layout)
        return lib.image_from_layout(layout, content_paths=want)


class BuildahRunner:
    """buildah with a long-lived vfs store; images built in Docker format so that Healthcheck,
    OnBuild and Shell are kept (in OCI format buildah drops them)."""

    def __init__(self, root):
        self.base = ["buildah", "--root", os.path.join(root, "root"), "--runroot",
                     os.path.join(root, "runroot"), "--storage-driver", "vfs"]

    def __call__(self, *args, timeout=300):
        return run([*self.base, *args], timeout=timeout)

    def build(self, ctx, dockerfile, tag, spec, extra_args, secrets):
        argv = ["bud", "--format", "docker", "--isolation", "oci", "--network", "none", "--layers",
                "-f", os.path.join(ctx, dockerfile), "-t", tag]
        for k, v in {**spec.get("build_args", {}), **extra_args}.items():
            argv += ["--build-arg", f"{k}={v}"]
        if spec.get("target"):
            argv += ["--target", spec["target"]]
        for sid, path in secrets.items():
            argv += ["--secret", f"id={sid},src={path}"]
        return self(*argv, ctx)

    def export(self, tag, work, want):
        layout = os.path.join(work, "buildah-oci")
        p = self("push", tag, f"oci:{layout}:{tag}")
        if p.returncode != 0:
            raise AssertionError(f"buildah push {tag} failed:\n{p.stderr}")
        p = self("inspect", "--type", "image", tag)
        docker_config = json.loads(p.stdout)["Docker"]
        return lib.image_from_layout(layout, ref=tag, content_paths=want, config_override=docker_config)


def build_and_export(builder, case, spec, work, extra_args, tag_prefix):
    """Builds the case's prebuilds and the case; returns (Image or None, combined output)."""
    name, case_dir = case
    ctx, secrets = lib.prepare_context(case_dir, spec, work)
    log = []
    for pb in spec.get("prebuild", []):
        p = builder.build(ctx, pb["dockerfile"], pb["tag"], spec, extra_args, secrets)
        log.append(p.stdout + p.stderr)
        if p.returncode != 0:
            return None, f"prebuild {pb['dockerfile']} failed ({p.returncode}):\n" + "\n".join(log), None
    tag = f"{tag_prefix}-{name}"
    p = builder.build(ctx, "Dockerfile", tag, spec, extra_args, secrets)
    log.append(p.stdout + p.stderr)
    if p.returncode != 0:
        return None, "\n".join(log), p.returncode
    img = builder.export(tag, work, lib.content_paths(spec))
    prebuilt = []
    for pb in spec.get("prebuild", []):
        sub = os.path.join(work, "prebuild-" + pb["tag"])
        os.makedirs(sub)
        prebuilt.append(builder.export(pb["tag"], sub, sorted(pb.get("expect", {}).get("files", {}))))
    img.prebuilt = prebuilt
    return img, "\n".join(log), 0


class Session:
    def __init__(self, tmp, busybox_tar, items):
        self.tmp = tmp
        self.cb = CbuildRunner(tempfile.mkdtemp(prefix="cbuild-conf-root-", dir="/var/tmp"))
        p = self.cb("import", busybox_tar, "busybox:latest")
        assert p.returncode == 0, p.stderr
        self.http = lib.HttpServer(os.path.join(tmp, "http"))
        os.makedirs(self.http.directory, exist_ok=True)
        self.peer = None
        self.peer_skip = None
        self.futures = {}
        if not shutil.which("buildah"):
            self.peer_skip = "SKIPPED: buildah is not installed (apt-get install buildah)"
            return
        self.buildah = BuildahRunner(STATE)
        archive = os.path.join(tmp, "busybox-oci.tar")
        p = self.cb("save", "busybox:latest", "-o", archive)
        assert p.returncode == 0, p.stderr
        p = self.buildah("pull", "-q", f"oci-archive:{archive}")
        assert p.returncode == 0, f"buildah pull failed:\n{p.stderr}"
        self.base_id = p.stdout.strip()
        self.version = self.buildah("--version").stdout.strip()
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        wanted = {it.callspec.params["name"] for it in items if hasattr(it, "callspec") and "name" in it.callspec.params}
        for name, case_dir, spec in CASES:
            if name in wanted and spec["peer"] == "buildah":
                self.futures[name] = self.pool.submit(self.peer_result, name, case_dir, spec)

    def http_args(self, name, spec):
        if "http" not in spec:
            return {}
        return {"HTTP_BASE": self.http.publish(name, spec["http"])}

    def peer_result(self, name, case_dir, spec):
        """(Image or None, output, rc) from buildah, reused from the peer cache when the case,
        buildah and the base are unchanged."""
        key = lib.case_fingerprint(case_dir, f"{PEER_CACHE_VERSION}|{self.version}|{self.base_id}")
        cache = os.path.join(STATE, "peer-cache", f"{name}-{key[:16]}.json")
        if os.path.exists(cache) and not os.environ.get("CBUILD_CONF_NO_PEER_CACHE"):
            with open(cache) as f:
                d = json.load(f)
            return _image_from_json(d["image"]) if d["image"] else None, d["output"], d["rc"]
        work = tempfile.mkdtemp(prefix=f"peer-{name}-", dir=self.tmp)
        img, out, rc = build_and_export(self.buildah, (name, case_dir), spec, work,
                                        self.http_args(name, spec), "conf")
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        with open(cache + ".tmp", "w") as f:
            json.dump({"image": _image_to_json(img) if img else None, "output": out[-20000:], "rc": rc}, f)
        os.rename(cache + ".tmp", cache)
        return img, out, rc

    def close(self):
        if self.futures:
            self.pool.shutdown(cancel_futures=True)
        self.http.close()
        shutil.rmtree(self.cb.root, ignore_errors=True)


def _image_to_json(img):
    d = img.to_json()
    d["raw_text"] = img.raw_text.decode("latin-1")
    d["prebuilt"] = [_image_to_json(p) for p in getattr(img, "prebuilt", [])]
    return d


def _image_from_json(d):
    img = lib.Image({p: lib.Entry(**e) for p, e in d["fs"].items()}, d["config"], d["top"],
                    {p: c.encode("latin-1") for p, c in d["contents"].items()}, d["raw_text"].encode("latin-1"))
    img.prebuilt = [_image_from_json(p) for p in d.get("prebuilt", [])]
    return img


@pytest.fixture(scope="session")
def conformance(busybox_tar, tmp_path_factory, request):
    before = mountinfo()
    s = Session(str(tmp_path_factory.mktemp("conformance")), busybox_tar, request.session.items)
    yield s
    root = s.cb.root
    s.close()
    leaked = {m for m in mountinfo() - before if root in m[0]}
    assert not leaked, f"mounts left behind: {leaked}"


# Cases that fail because cbuild lacks the feature: reported as expected failures (xfail), never
# as passes, and listed in docs/compatibility.md until the feature lands.
KNOWN_GAPS = {}


@pytest.mark.parametrize("name", [c[0] for c in CASES])
def test_case(name, conformance, tmp_path, request):
    if name in KNOWN_GAPS:
        request.applymarker(pytest.mark.xfail(reason=KNOWN_GAPS[name], strict=False))
    _, case_dir, spec = next(c for c in CASES if c[0] == name)
    s = conformance
    ours, out, rc = build_and_export(s.cb, (name, case_dir), spec, str(tmp_path), s.http_args(name, spec), "conf")
    problems = []
    failure = spec.get("expect_failure")
    if failure:
        if rc == 0:
            problems.append("cbuild: the build succeeded, expected it to fail")
        elif rc != 1:
            problems.append(f"cbuild: exit code {rc}, expected 1 (build failed)")
        elif not re.search(failure["output_matches"], out, re.I):
            problems.append(f"cbuild: output does not match /{failure['output_matches']}/:\n{out[-3000:]}")
    elif ours is None:
        problems.append(f"cbuild: build failed (exit {rc}):\n{out[-4000:]}")
    else:
        problems += lib.check_expectations(ours, spec.get("expect", {}), "cbuild")
        for pb, img in zip(spec.get("prebuild", []), ours.prebuilt):
            problems += lib.check_expectations(img, pb.get("expect", {}), f"cbuild ({pb['tag']})")

    if spec["peer"] == "buildah":
        if s.peer_skip:
            pytest.skip(s.peer_skip)
        peer, pout, prc = s.futures[name].result()
        if failure:
            if prc == 0:
                problems.append("corpus: buildah built a case that is expected to fail")
        elif peer is None:
            problems.append(f"corpus: buildah failed to build a case marked \"peer\": \"buildah\":\n{pout[-3000:]}")
        else:
            paths, fields = lib.peer_ignores(spec)
            corpus = lib.check_expectations(peer, spec.get("expect", {}), "buildah", env_order=False,
                                            ignore=(paths, fields))
            problems += [f"corpus: expectation disagrees with buildah: {p}" for p in corpus]
            if ours is not None:
                with open(os.path.join(case_dir, "Dockerfile")) as f:
                    stubs = lib.mount_stub_paths(f.read())
                problems += lib.compare_fs(ours.fs, lib.drop_mount_stubs(peer.fs, ours.fs, stubs), paths)
                problems += lib.compare_config(ours, peer, fields)
                for a, b in zip(ours.prebuilt, peer.prebuilt):
                    b_fs = lib.drop_mount_stubs(b.fs, a.fs, stubs)
                    problems += [f"prebuild: {d}" for d in lib.compare_fs(a.fs, b_fs) + lib.compare_config(a, b)]
    assert not problems, f"{name}: {spec['description']}\n  " + "\n  ".join(problems)


def test_intentional_differences_are_documented():
    """Every difference the harness ignores is explained in docs/compatibility.md."""
    with open(os.path.join(lib.ROOT, "docs", "compatibility.md")) as f:
        doc = f.read()
    missing = [n for n in {**lib.INTENTIONAL, **lib.ALWAYS} if f"`{n}`" not in doc]
    assert not missing, f"docs/compatibility.md does not explain: {missing}"
    for name, _, spec in CASES:
        lib.peer_ignores(spec)  # raises on an unknown name
