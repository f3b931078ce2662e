#!/usr/bin/env python3
"""A scripted, hostile OCI registry for tests. Loopback only; every loop is bounded.

The repository name picks the behaviour (all serve tag `latest` of a one-layer image):
  good/img        a valid OCI image           good/index   an OCI index (linux/arm64, linux/amd64)
  docker/img      Docker schema2 manifest     wrongdigest/img  layer bytes do not match the digest
  wrongsize/img   layer shorter than its descriptor   toolong/img  layer longer than its descriptor
  both/img        manifest with `manifests` and `layers`   huge/img  a 5 MiB manifest
  endless/img     manifest body never ends    endlessblob/img  layer body never ends
  redirect/img    manifest redirects to another host (localhost instead of 127.0.0.1)
  badheader/img   Docker-Content-Digest disagrees with the manifest
  flaky/img       the layer fails with 500 twice, then works
  auth/img        Bearer auth (user `alice`, password `s3cret`), token realm on this host,
                  blobs redirect to another host (localhost) without credentials
  authother/img   Bearer auth with the realm on another host (localhost)
  basic/img       Basic auth (alice / s3cret)
Push: any repository under push/ accepts uploads (monolithic, chunked, mount) in memory.
Every request is logged as a JSON line (method, path, host, auth scheme) to --log.
"""
import argparse
import base64
import gzip
import hashlib
import io
import json
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

USER, PASSWORD, TOKEN = "alice", "s3cret", "tok-123"
MAX_ENDLESS = 64 << 20
LOCK = threading.Lock()


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def make_image():
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        data = b"hello from the fake registry\n" * 100
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        info.mtime = 0
        t.addfile(info, io.BytesIO(data))
    tar = raw.getvalue()
    layer = gzip.compress(tar, mtime=0)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["cat", "/hello.txt"]},
                         "rootfs": {"type": "layers", "diff_ids": [sha(tar)]}}, sort_keys=True).encode()
    return layer, config


LAYER, CONFIG = make_image()


def manifest(docker=False, extra=None):
    m = {"schemaVersion": 2,
         "mediaType": "application/vnd.docker.distribution.manifest.v2+json" if docker
         else "application/vnd.oci.image.manifest.v1+json",
         "config": {"mediaType": "application/vnd.docker.container.image.v1+json" if docker
                    else "application/vnd.oci.image.config.v1+json",
                    "digest": sha(CONFIG), "size": len(CONFIG)},
         "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip" if docker
                     else "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(LAYER), "size": len(LAYER)}]}
    if extra:
        m.update(extra)
    return json.dumps(m, sort_keys=True).encode()


GOOD = manifest()
INDEX_ARM = manifest(extra={"annotations": {"arch": "arm64"}})
INDEX = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(INDEX_ARM), "size": len(INDEX_ARM),
     "platform": {"os": "linux", "architecture": "arm64"}},
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(GOOD), "size": len(GOOD),
     "platform": {"os": "linux", "architecture": "amd64"}}]}).encode()
BOTH = manifest(extra={"manifests": []})
HUGE = manifest(extra={"annotations": {"pad": "x" * (5 << 20)}})

# Push side: blobs by digest, manifests by (repo, reference).
BLOBS = {sha(LAYER): LAYER, sha(CONFIG): CONFIG}
MANIFESTS = {}
UPLOADS = {}
UPLOAD_SEQ = [0]  # the last upload id handed out
REPO_BLOBS = set()  # (repo, digest) for push/ repositories
FLAKY = {"count": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def record(self):
        auth = self.headers.get("Authorization", "")
        entry = {"method": self.command, "path": urlparse(self.path).path, "query": urlparse(self.path).query,
                 "host": self.headers.get("Host", ""), "auth": auth.split(" ")[0] if auth else "",
                 "password_sent": PASSWORD in (base64.b64decode(auth[6:]).decode(errors="replace")
                                               if auth.startswith("Basic ") else auth)}
        with LOCK, open(self.server.logfile, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def send(self, code, body=b"", headers=None, head=False):
        self.send_response(code)
        hdrs = {"Content-Length": str(len(body))}
        hdrs.update(headers or {})
        for k, v in hdrs.items():
            self.send_header(k, v)
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def error(self, code, ecode, msg, headers=None):
        self.send(code, json.dumps({"errors": [{"code": ecode, "message": msg}]}).encode(),
                  dict({"Content-Type": "application/json"}, **(headers or {})))

    def endless(self, ctype):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        chunk, sent, t0 = b" " * 65536, 0, time.time()
        try:
            while sent < MAX_ENDLESS and time.time() - t0 < 30:
                self.wfile.write(chunk)
                sent += len(chunk)
        except OSError:
            pass

    def body(self):
        n = int(self.headers.get("Content-Length", "0") or 0)
        return self.rfile.read(n) if n else b""

    def authorized(self, repo):
        kind = repo.split("/")[0]
        auth = self.headers.get("Authorization", "")
        port = self.server.server_address[1]
        if kind in ("auth", "authother"):
            if auth == f"Bearer {TOKEN}":
                return True
            realm_host = f"127.0.0.1:{port}" if kind == "auth" else f"localhost:{port}"
            self.error(401, "UNAUTHORIZED", "authentication required", {
                "WWW-Authenticate": f'Bearer realm="http://{realm_host}/token",service="fake",'
                                    f'scope="repository:{repo}:pull"'})
            return False
        if kind == "basic":
            if auth == "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode():
                return True
            self.error(401, "UNAUTHORIZED", "authentication required", {"WWW-Authenticate": 'Basic realm="fake"'})
            return False
        return True

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        self.record()
        u = urlparse(self.path)
        p = u.path
        if p == "/health":
            return self.send(200, b"ok")
        if p == "/token":
            auth = self.headers.get("Authorization", "")
            if auth == "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode():
                return self.send(200, json.dumps({"token": TOKEN}).encode(), {"Content-Type": "application/json"})
            return self.error(401, "UNAUTHORIZED", "bad credentials for the token")
        if p.startswith("/storage/"):
            d = p[len("/storage/"):]
            return self.send(200, BLOBS[d], {"Content-Type": "application/octet-stream"})
        if p == "/v2/" or p == "/v2":
            return self.send(200, b"{}", {"Content-Type": "application/json"})
        if not p.startswith("/v2/"):
            return self.error(404, "NOT_FOUND", "no such path")
        rest = p[4:]
        if "/manifests/" in rest:
            repo, ref = rest.split("/manifests/")
            return self.get_manifest(repo, ref)
        if "/blobs/" in rest:
            repo, d = rest.split("/blobs/")
            return self.get_blob(repo, d)
        return self.error(404, "NOT_FOUND", "no such path")

    def get_manifest(self, repo, ref):
        if not self.authorized(repo):
            return
        kind = repo.split("/")[0]
        oci = "application/vnd.oci.image.manifest.v1+json"
        if kind == "push" or (repo, ref) in MANIFESTS:
            if (repo, ref) not in MANIFESTS:
                return self.error(404, "MANIFEST_UNKNOWN", "manifest unknown")
            body, ctype = MANIFESTS[(repo, ref)]
            return self.send(200, body, {"Content-Type": ctype, "Docker-Content-Digest": sha(body)})
        if kind == "endless":
            return self.endless(oci)
        if kind == "redirect":
            port = self.server.server_address[1]
            return self.send(307, b"", {"Location": f"http://localhost:{port}/v2/good/img/manifests/{ref}"})
        bodies = {"both": (BOTH, oci), "huge": (HUGE, oci), "good": (GOOD, oci), "docker": (
            manifest(docker=True), "application/vnd.docker.distribution.manifest.v2+json")}
        if repo == "good/index":
            body, ctype = INDEX, "application/vnd.oci.image.index.v1+json"
        else:
            body, ctype = bodies.get(kind, (GOOD, oci))
        by_digest = {sha(b): b for b in (GOOD, INDEX_ARM, INDEX, manifest(docker=True))}
        if ref.startswith("sha256:"):
            if ref not in by_digest:
                return self.error(404, "MANIFEST_UNKNOWN", "manifest unknown")
            body = by_digest[ref]
            ctype = json.loads(body).get("mediaType", oci)
        elif ref != "latest":
            return self.error(404, "MANIFEST_UNKNOWN", "manifest unknown")
        digest = sha(body) if kind != "badheader" else sha(b"something else")
        self.send(200, body, {"Content-Type": ctype, "Docker-Content-Digest": digest})

    def get_blob(self, repo, d):
        if not self.authorized(repo):
            return
        kind = repo.split("/")[0]
        if d not in BLOBS or (kind == "push" and (repo, d) not in REPO_BLOBS):
            return self.error(404, "BLOB_UNKNOWN", "blob unknown")
        data = BLOBS[d]
        if d == sha(LAYER):
            if kind == "wrongdigest":
                data = bytes([data[0] ^ 1]) + data[1:]
            elif kind == "wrongsize":
                data = data[:-10]
            elif kind == "toolong":
                data = data + b"\0" * 4096
            elif kind == "endlessblob":
                return self.endless("application/octet-stream")
            elif kind == "flaky":
                with LOCK:
                    FLAKY["count"] += 1
                    n = FLAKY["count"]
                if n <= 2:
                    return self.error(500, "UNAVAILABLE", "try again")
            elif kind == "auth":
                port = self.server.server_address[1]
                return self.send(307, b"", {"Location": f"http://localhost:{port}/storage/{d}"})
        self.send(200, data, {"Content-Type": "application/octet-stream", "Docker-Content-Digest": d})

    def do_POST(self):
        self.record()
        u = urlparse(self.path)
        q = parse_qs(u.query)
        self.body()
        repo = u.path[4:].split("/blobs/uploads")[0]
        if not self.authorized(repo):
            return
        if "mount" in q and q["mount"][0] in BLOBS:
            with LOCK:
                REPO_BLOBS.add((repo, q["mount"][0]))
            return self.send(201, b"", {"Location": f"/v2/{repo}/blobs/{q['mount'][0]}"})
        # A fresh id per upload, never reused: len(UPLOADS) shrinks when a PUT completes one, so
        # an id made from it could name an upload still in progress (concurrent blob pushes).
        with LOCK:
            UPLOAD_SEQ[0] += 1
            uid = f"u{UPLOAD_SEQ[0]}"
            UPLOADS[uid] = b""
        self.send(202, b"", {"Location": f"/v2/{repo}/blobs/uploads/{uid}", "Range": "0-0"})

    def do_PATCH(self):
        self.record()
        u = urlparse(self.path)
        uid = u.path.rsplit("/", 1)[1]
        data = self.body()
        with LOCK:
            UPLOADS[uid] += data
            n = len(UPLOADS[uid])
        self.send(202, b"", {"Location": u.path, "Range": f"0-{n - 1}"})

    def do_PUT(self):
        self.record()
        u = urlparse(self.path)
        data = self.body()
        rest = u.path[4:]
        if "/manifests/" in rest:
            repo, ref = rest.split("/manifests/")
            ctype = self.headers.get("Content-Type", "")
            with LOCK:
                MANIFESTS[(repo, ref)] = (data, ctype)
                MANIFESTS[(repo, sha(data))] = (data, ctype)
            return self.send(201, b"", {"Docker-Content-Digest": sha(data)})
        uid = u.path.rsplit("/", 1)[1]
        d = parse_qs(u.query)["digest"][0]
        with LOCK:
            full = UPLOADS.pop(uid, b"") + data
        if sha(full) != d:
            return self.error(400, "DIGEST_INVALID", "digest does not match")
        BLOBS[d] = full
        with LOCK:
            REPO_BLOBS.add((rest.split("/blobs/uploads")[0], d))
        self.send(201, b"", {"Location": f"/v2/x/blobs/{d}", "Docker-Content-Digest": d})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    a = ap.parse_args()
    assert a.bind.startswith("127.") or a.bind == "::1", "loopback only"
    srv = ThreadingHTTPServer((a.bind, a.port), Handler)
    srv.daemon_threads = True
    srv.logfile = a.log
    srv.serve_forever()


if __name__ == "__main__":
    main()
