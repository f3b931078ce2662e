"""Helpers for the differential conformance suite (tests/e2e/test_conformance.py).

A case is a directory testdata/conformance/NN-name/ holding a Dockerfile, its context files and
case.json. Both cbuild and buildah build it; each image is exported as an OCI layout, its layers
are applied in memory (whiteouts included) into a table path -> Entry, and the tables and the
config fields are compared. docs/compatibility.md lists the intentional differences, which are
exactly the normalizations in `normalize_peer_*` below.
"""
import dataclasses
import gzip
import hashlib
import http.server
import io
import json
import lzma
import os
import re
import shutil
import socket
import subprocess
import tarfile
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "testdata", "conformance")

# Config fields compared between the builders (docker-style names, as in the image config).
CONFIG_FIELDS = ["Env", "Cmd", "Entrypoint", "WorkingDir", "User", "Labels", "ExposedPorts",
                 "Volumes", "StopSignal", "Healthcheck", "OnBuild", "Shell"]
# Top-level config fields compared as well.
TOP_FIELDS = ["author"]


# Intentional differences from buildah 1.28, each documented in docs/compatibility.md. A case
# names the ones it hits in case.json, with the exact paths and config fields concerned:
#   "peer_differences": {"workdir-created": {"paths": ["/a/b"]}, "shell-form-uses-shell": {"config": ["Cmd"]}}
# and the comparison with buildah (and buildah's check against the expectations) skips exactly
# those. The normalizations every case gets are listed in ALWAYS.
INTENTIONAL = {
    "workdir-created": "BuildKit creates every WORKDIR directory even when no later step uses it; "
                       "buildah 1.28 only creates it when a RUN or COPY needs it",
    "shell-form-uses-shell": "BuildKit applies SHELL to the shell forms of CMD and ENTRYPOINT; "
                             "buildah 1.28 always writes /bin/sh -c",
}
ALWAYS = {
    "buildah-version-label": "buildah adds the label io.buildah.version",
    "env-order": "buildah moves a redefined variable to the end of Env; BuildKit replaces it in place",
    "empty-config-values": "buildah writes [] and {} where BuildKit leaves a field out; empty and "
                           "absent are the same to every runtime",
    "docker-format-peer": "buildah builds with --format docker: in OCI format it drops Healthcheck, "
                          "OnBuild and Shell, which BuildKit and cbuild keep in the OCI config",
    "mtimes": "file times are not compared: cbuild clamps them to SOURCE_DATE_EPOCH, buildah keeps build time",
    "mount-stubs": "buildah leaves the empty files and directories it created as mount points for RUN "
                   "(/etc/hostname, /etc/hosts, /etc/resolv.conf, /run, RUN --mount targets) in the layer; "
                   "BuildKit removes them",
}
_STUB_FILES = {"/etc/hostname", "/etc/hosts", "/etc/resolv.conf"}


def mount_stub_paths(dockerfile_text):
    """Paths buildah may leave behind as mount points: the runtime's files, /run, and every RUN
    --mount target with its parents (intentional difference `mount-stubs`)."""
    paths = set(_STUB_FILES) | {"/run", "/run/secrets"}
    for m in re.finditer(r"--mount=\S*?\b(?:target|dst|destination)=([^,\s]+)", dockerfile_text):
        p = m.group(1)
        while p not in ("/", ""):
            paths.add(p)
            p = os.path.dirname(p)
    return paths


def drop_mount_stubs(peer_fs, ours_fs, stubs):
    """buildah's table without the stubs cbuild lacks: empty files at stub paths, and stub
    directories holding nothing but other stubs."""
    out = dict(peer_fs)
    for p in sorted(stubs, key=len, reverse=True):
        e = out.get(p)
        if e is None or p in ours_fs:
            continue
        if e.type == "file" and e.size == 0 and p in _STUB_FILES:
            del out[p]
        elif e.type == "dir" and not any(q.startswith(p + "/") for q in out):
            del out[p]
    return out


def peer_ignores(spec):
    """(paths, config fields) a case's declared intentional differences cover."""
    paths, fields = set(), set()
    for name, what in spec.get("peer_differences", {}).items():
        if name not in INTENTIONAL:
            raise AssertionError(f"case.json names unknown intentional difference {name!r}")
        paths |= set(what.get("paths", []))
        fields |= set(what.get("config", []))
    return paths, fields


# ---------------------------------------------------------------- corpus

def load_cases():
    """[(name, directory, spec)] sorted by name."""
    out = []
    for name in sorted(os.listdir(CORPUS)):
        d = os.path.join(CORPUS, name)
        spec_path = os.path.join(d, "case.json")
        if os.path.isfile(spec_path):
            with open(spec_path) as f:
                out.append((name, d, json.load(f)))
    return out


def case_fingerprint(case_dir, extra=""):
    """sha256 over the case's files (names, modes, contents) and `extra`."""
    h = hashlib.sha256(extra.encode())
    for dirpath, dirnames, filenames in os.walk(case_dir):
        dirnames.sort()
        for fn in sorted(filenames):
            p = os.path.join(dirpath, fn)
            h.update(os.path.relpath(p, case_dir).encode() + b"\0")
            if os.path.islink(p):
                h.update(b"L" + os.readlink(p).encode())
            else:
                with open(p, "rb") as f:
                    h.update(f.read())
    return h.hexdigest()


def prepare_context(case_dir, spec, work):
    """Copy the case into work/ctx (minus case.json and secret sources, which go to
    work/secrets), run the case's `prepare` commands there. Returns (ctx, {id: path})."""
    ctx = os.path.join(work, "ctx")
    shutil.copytree(case_dir, ctx, symlinks=True)
    os.unlink(os.path.join(ctx, "case.json"))
    for cmd in spec.get("prepare", []):
        subprocess.run(["sh", "-ec", cmd], cwd=ctx, check=True)
    secrets = {}
    sdir = os.path.join(work, "secrets")
    for sid, rel in spec.get("secrets", {}).items():
        os.makedirs(sdir, exist_ok=True)
        dst = os.path.join(sdir, sid)
        shutil.move(os.path.join(ctx, rel), dst)
        secrets[sid] = dst
    return ctx, secrets


# ---------------------------------------------------------------- loopback http server

class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class HttpServer:
    """Serves a directory on 127.0.0.1 at a free port (ADD <url> cases)."""

    def __init__(self, directory):
        self.directory = directory
        handler = lambda *a, **k: _QuietHandler(*a, directory=directory, **k)  # noqa: E731
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def publish(self, case, files):
        """Writes files {name: text} under /<case>/ and returns that base URL."""
        d = os.path.join(self.directory, case)
        os.makedirs(d, exist_ok=True)
        for name, text in files.items():
            with open(os.path.join(d, name), "w") as f:
                f.write(text)
        return f"http://127.0.0.1:{self.port}/{case}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- OCI layouts -> file tables

@dataclasses.dataclass(frozen=True)
class Entry:
    type: str          # file, dir, symlink, char, block, fifo
    mode: int          # permission bits incl. setuid/setgid/sticky
    uid: int
    gid: int
    size: int = 0
    sha256: str = ""
    target: str = ""   # symlink target

    def show(self):
        s = f"{self.type} {self.mode:04o} {self.uid}:{self.gid}"
        if self.type == "file":
            s += f" size={self.size} sha256={self.sha256[:12]}"
        if self.type == "symlink":
            s += f" -> {self.target}"
        return s


def _open_blob(layout, digest):
    algo, hexd = digest.split(":", 1)
    return os.path.join(layout, "blobs", algo, hexd)


def read_layout(layout, ref=None):
    """(manifest, config) of the image in an OCI layout dir (the one named `ref`, else the only one)."""
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    mans = index["manifests"]
    if ref is not None:
        named = [m for m in mans if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref]
        mans = named or mans
    with open(_open_blob(layout, mans[0]["digest"])) as f:
        manifest = json.load(f)
    if manifest.get("mediaType", "").endswith("image.index.v1+json") or "manifests" in manifest:
        with open(_open_blob(layout, manifest["manifests"][0]["digest"])) as f:
            manifest = json.load(f)
    with open(_open_blob(layout, manifest["config"]["digest"])) as f:
        config = json.load(f)
    return manifest, config


def _layer_bytes(path, media_type):
    with open(path, "rb") as f:
        head = f.read(6)
    if head[:2] == b"\x1f\x8b":
        with gzip.open(path, "rb") as f:
            return f.read()
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return subprocess.run(["zstd", "-dc", path], check=True, capture_output=True).stdout
    if head[:6] == b"\xfd7zXZ\x00":
        with lzma.open(path) as f:
            return f.read()
    with open(path, "rb") as f:
        return f.read()


def _norm(name):
    name = name.lstrip("./") if name not in (".", "./") else ""
    name = "/" + name.strip("/")
    return "/" if name == "/" else name.rstrip("/")


_TYPES = {tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "symlink",
          tarfile.CHRTYPE: "char", tarfile.BLKTYPE: "block", tarfile.FIFOTYPE: "fifo", tarfile.CONTTYPE: "file"}


def _remove_tree(fs, path):
    fs.pop(path, None)
    prefix = path.rstrip("/") + "/"
    for p in [p for p in fs if p.startswith(prefix)]:
        del fs[p]


def _ensure_parents(fs, path):
    parent = os.path.dirname(path)
    while parent not in ("/", "") and parent not in fs:
        fs[parent] = Entry("dir", 0o755, 0, 0)
        parent = os.path.dirname(parent)


def apply_layers(layout, manifest, want=()):
    """The image's root filesystem as {path: Entry}, the raw bytes of all layers (for text
    searches) and {path: bytes} for the regular files named in `want`. "/" is left out."""
    fs = {}
    raw = []
    contents = {}
    want = set(want)
    for layer in manifest["layers"]:
        data = _layer_bytes(_open_blob(layout, layer["digest"]), layer.get("mediaType", ""))
        raw.append(data)
        this_layer = set()
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            for m in tar:
                path = _norm(m.name)
                if path == "/":
                    continue
                base = os.path.basename(path)
                parent = os.path.dirname(path)
                if base == ".wh..wh..opq":
                    # opaque: the directory hides what lower layers had in it (not this layer's)
                    prefix = parent.rstrip("/") + "/"
                    for p in [p for p in fs if p.startswith(prefix) and p not in this_layer]:
                        del fs[p]
                    continue
                if base.startswith(".wh."):
                    _remove_tree(fs, os.path.join(parent, base[4:]))
                    continue
                _ensure_parents(fs, path)
                this_layer.add(path)
                if m.islnk():
                    src = fs.get(_norm(m.linkname))
                    fs[path] = src if src else Entry("file", m.mode & 0o7777, m.uid, m.gid)
                    if path in want and _norm(m.linkname) in contents:
                        contents[path] = contents[_norm(m.linkname)]
                    continue
                kind = _TYPES.get(m.type, "other")
                if kind != "dir" or fs.get(path, Entry("", 0, 0, 0)).type != "dir":
                    _remove_tree(fs, path)
                if kind == "file":
                    content = tar.extractfile(m).read()
                    if path in want:
                        contents[path] = content
                    fs[path] = Entry("file", m.mode & 0o7777, m.uid, m.gid, len(content),
                                     hashlib.sha256(content).hexdigest())
                else:
                    fs[path] = Entry(kind, m.mode & 0o7777, m.uid, m.gid, target=m.linkname if kind == "symlink" else "")
    for p in [p for p in contents if p not in fs or fs[p].type != "file"]:
        del contents[p]
    return fs, raw, contents


@dataclasses.dataclass
class Image:
    """What the comparison needs of one built image."""
    fs: dict
    config: dict          # the config's "config" object (Env, Cmd, ...)
    top: dict             # top-level fields (Author, history, ...)
    contents: dict        # path -> bytes, for files whose content an expectation names
    raw_text: bytes       # all layers + the config JSON, for absent_text checks

    def to_json(self):
        return {"fs": {p: dataclasses.asdict(e) for p, e in self.fs.items()}, "config": self.config,
                "top": self.top, "contents": {p: c.decode("latin-1") for p, c in self.contents.items()},
                "raw_sha": hashlib.sha256(self.raw_text).hexdigest()}


def image_from_layout(layout, ref=None, content_paths=(), config_override=None):
    manifest, config = read_layout(layout, ref)
    fs, raw, contents = apply_layers(layout, manifest, content_paths)
    full = config_override or config
    top = {k: v for k, v in full.items() if k != "config"}
    return Image(fs, dict(full.get("config") or {}), top, contents,
                 b"".join(raw) + json.dumps(full).encode())


# ---------------------------------------------------------------- normalization and comparison

def _empty(v):
    return v is None or v == [] or v == {} or v == ""


def config_view(img, intentional=True):
    """The compared config fields, with "empty" collapsed to None."""
    out = {}
    for k in CONFIG_FIELDS:
        v = img.config.get(k)
        if k == "Labels" and v and intentional:
            v = {lk: lv for lk, lv in v.items() if lk != "io.buildah.version"}
        if k == "Healthcheck" and v:
            v = {hk: hv for hk, hv in v.items() if not _empty(hv) and hv != 0}
        out[k] = None if _empty(v) else v
    for k in TOP_FIELDS:
        v = img.top.get(k)
        out[k] = None if _empty(v) else v
    return out


def compare_fs(ours, peer, ignore=()):
    """Human-readable differences between two file tables, except at the paths in `ignore`."""
    diffs = []
    for p in sorted(set(ours) | set(peer)):
        a, b = ours.get(p), peer.get(p)
        if a == b or p in ignore:
            continue
        if a is None:
            diffs.append(f"only in buildah: {p} ({b.show()})")
        elif b is None:
            diffs.append(f"only in cbuild:  {p} ({a.show()})")
        else:
            diffs.append(f"differs: {p}: cbuild {a.show()} | buildah {b.show()}")
    return diffs


def _env_as_set(view):
    """Intentional difference `env-order`: buildah moves a redefined variable to the end of Env,
    BuildKit (and cbuild) replace it in place; compared with buildah, Env is a set."""
    if view.get("Env"):
        view["Env"] = sorted(view["Env"])
    return view


def compare_config(ours, peer, ignore=()):
    a, b = _env_as_set(config_view(ours)), _env_as_set(config_view(peer))
    return [f"config {k}: cbuild {json.dumps(a[k])} | buildah {json.dumps(b[k])}"
            for k in a if a[k] != b[k] and k not in ignore]


def check_expectations(img, expect, who, env_order=True, ignore=((), ())):
    """Problems with `img` against a case's "expect" block (BuildKit's documented behaviour).
    env_order=False compares Env as a set (see _env_as_set); ignore = (paths, config fields)."""
    problems = []
    for path, want in expect.get("files", {}).items():
        if path in ignore[0]:
            continue
        e = img.fs.get(path)
        if e is None:
            problems.append(f"{who}: expected {path} to exist")
            continue
        if "type" in want and e.type != want["type"]:
            problems.append(f"{who}: {path}: type {e.type}, expected {want['type']}")
        if "mode" in want and e.mode != int(want["mode"], 8):
            problems.append(f"{who}: {path}: mode {e.mode:04o}, expected {want['mode']}")
        for k in ("uid", "gid"):
            if k in want and getattr(e, k) != want[k]:
                problems.append(f"{who}: {path}: {k} {getattr(e, k)}, expected {want[k]}")
        if "target" in want and e.target != want["target"]:
            problems.append(f"{who}: {path}: link target {e.target!r}, expected {want['target']!r}")
        if "content" in want:
            got = img.contents.get(path)
            if got != want["content"].encode():
                problems.append(f"{who}: {path}: content {got!r}, expected {want['content'].encode()!r}")
    for path in expect.get("absent", []):
        if path in img.fs:
            problems.append(f"{who}: expected {path} to be absent, found {img.fs[path].show()}")
    view = config_view(img)
    for k, want in expect.get("config", {}).items():
        if k in ignore[1]:
            continue
        got = view.get(k, img.config.get(k, img.top.get(k)))
        want = None if _empty(want) else want
        if k == "Env" and not env_order and got and want:
            got, want = sorted(got), sorted(want)
        if got != want:
            problems.append(f"{who}: config {k}: {json.dumps(got)}, expected {json.dumps(want)}")
    for text in expect.get("absent_text", []):
        if text.encode() in img.raw_text:
            problems.append(f"{who}: {text!r} found in a layer, the config or the history")
    for text in expect.get("absent_text_in_config", []):
        if text in json.dumps({"config": img.config, **img.top}):
            problems.append(f"{who}: {text!r} found in the config or the history")
    return problems


def content_paths(spec):
    paths = set(spec.get("expect", {}).get("files", {}))
    for pb in spec.get("prebuild", []):
        paths |= set(pb.get("expect", {}).get("files", {}))
    return sorted(paths)
