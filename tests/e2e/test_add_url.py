"""ADD <http URL> against a loopback HTTP server started by the test: destination rules, mode
0600, Last-Modified mtime, --chown, archives not extracted, --checksum, HTTP errors, and the
cache (the URL's content is part of the step's key)."""
import hashlib
import http.server
import os
import socket
import threading
from email.utils import formatdate

import pytest

LAST_MODIFIED = 1_600_000_000  # 2020-09-13


class Server:
    """Routes {path: (status, headers, body)}; changeable while it runs."""

    def __init__(self):
        self.routes = {}
        self.hits = []
        routes, hits = self.routes, self.hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                hits.append(self.path)
                status, headers, body = routes.get(self.path.split("?")[0], (404, {}, b"not found\n"))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def file(self, path, body, last_modified=LAST_MODIFIED):
        headers = {"Last-Modified": formatdate(last_modified, usegmt=True)} if last_modified else {}
        self.routes[path] = (200, headers, body)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def build(cb, ctx, dockerfile, *args, check=True):
    (ctx / "Dockerfile").write_text(dockerfile)
    return cb("build", "--progress", "plain", *args, str(ctx), check=check)


def no_downloads_left(cb):
    active = os.path.join(cb.root, "active")
    return not os.path.isdir(active) or not [n for n in os.listdir(active) if "-fetch-" in n]


def test_add_url_dest_rules_mode_mtime_owner(base, server, tmp_path):
    import gzip
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        info = tarfile.TarInfo("inside")
        info.size = 2
        t.addfile(info, io.BytesIO(b"x\n"))
    server.file("/d/hello.txt", b"hello\n")
    server.file("/a.tar.gz", buf.getvalue())
    server.file("/nolm/plain%20name.txt", b"no date\n", last_modified=None)
    server.file("/", b"index\n")
    server.routes["/moved"] = (302, {"Location": "/d/hello.txt"}, b"")
    df = (f"FROM busybox\n"
          f"ADD {server.base}/d/hello.txt /into/\n"
          f"ADD {server.base}/d/hello.txt /renamed.txt\n"
          f"ADD {server.base}/a.tar.gz /tars/\n"
          f"ADD --chown=1:2 {server.base}/d/hello.txt {server.base}/nolm/plain%20name.txt /owned/\n"
          f"ADD --chmod=0755 {server.base}/ /unnamed/\n"
          f"ADD {server.base}/moved?x=1 /redirected\n"
          "RUN stat -c '%n %a %u:%g %Y' /into/hello.txt /renamed.txt /tars/a.tar.gz /owned/hello.txt "
          "'/owned/plain name.txt' /unnamed/__unnamed__ /redirected > /stat.txt\n")
    build(base, tmp_path, df, "-t", "addurl")
    out = base("run", "--rm", "addurl", "cat", "/stat.txt").stdout.splitlines()
    assert out == [
        f"/into/hello.txt 600 0:0 {LAST_MODIFIED}",
        f"/renamed.txt 600 0:0 {LAST_MODIFIED}",
        f"/tars/a.tar.gz 600 0:0 {LAST_MODIFIED}",      # a remote archive is never extracted
        f"/owned/hello.txt 600 1:2 {LAST_MODIFIED}",
        "/owned/plain name.txt 600 1:2 0",                # no Last-Modified: SOURCE_DATE_EPOCH or 0
        f"/unnamed/__unnamed__ 755 0:0 {LAST_MODIFIED}",
        f"/redirected 600 0:0 {LAST_MODIFIED}",
    ]
    assert base("run", "--rm", "addurl", "cat", "/redirected").stdout == "hello\n"
    assert no_downloads_left(base)


def test_add_url_checksum(base, server, tmp_path):
    server.file("/f.txt", b"pinned\n")
    digest = sha(b"pinned\n")
    ok = build(base, tmp_path, f"FROM busybox\nADD --checksum={digest} {server.base}/f.txt /f.txt\n", "-t", "pinned")
    assert ok.returncode == 0
    assert base("run", "--rm", "pinned", "cat", "/f.txt").stdout == "pinned\n"
    # With --checksum the key is the checksum: a rebuild is a cache hit without any download.
    server.hits.clear()
    again = build(base, tmp_path, f"FROM busybox\nADD --checksum={digest} {server.base}/f.txt /f.txt\n")
    assert "#2 CACHED" in again.stderr and server.hits == []

    wrong = sha(b"something else")
    p = build(base, tmp_path, f"FROM busybox\nADD --checksum={wrong} {server.base}/f.txt /f.txt\n", check=False)
    assert p.returncode == 1
    assert "Dockerfile:2:1" in p.stderr and "checksum mismatch" in p.stderr
    assert wrong in p.stderr and digest in p.stderr and f"{server.base}/f.txt" in p.stderr
    assert no_downloads_left(base)


@pytest.mark.parametrize("case", ["local-source", "several-sources", "bad-digest", "copy-url"])
def test_add_checksum_and_url_misuse_are_located(base, server, tmp_path, case):
    (tmp_path / "l.txt").write_text("local")
    good = sha(b"x")
    line, message = {
        "local-source": (f"ADD --checksum={good} l.txt /x", "checksum can't be specified for non-HTTP(S) sources"),
        "several-sources": (f"ADD --checksum={good} {server.base}/a {server.base}/b /x/",
                            "checksum can't be specified for multiple sources"),
        "bad-digest": (f"ADD --checksum=md5:abc {server.base}/a /x", "invalid --checksum `md5:abc`"),
        "copy-url": (f"COPY {server.base}/a /x", "source can't be a URL for COPY"),
    }[case]
    p = build(base, tmp_path, f"FROM busybox\n{line}\n", check=False)
    assert p.returncode == 1 and "Dockerfile:2:1" in p.stderr and message in p.stderr, p.stderr
    assert server.hits == []  # rejected before anything is fetched


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("case", ["404", "refused", "redirect-loop"])
def test_add_url_http_errors(base, server, tmp_path, case):
    server.routes["/loop"] = (301, {"Location": "/loop"}, b"")
    url, message = {
        "404": (f"{server.base}/missing.txt", "invalid response status 404"),
        "refused": (f"http://127.0.0.1:{free_port()}/f.txt", "onnect"),
        "redirect-loop": (f"{server.base}/loop", "stopped after 10 redirects"),
    }[case]
    p = build(base, tmp_path, f"FROM busybox\nADD {url} /f.txt\n", check=False)
    assert p.returncode == 1, p.stderr
    assert "Dockerfile:2:1" in p.stderr and url in p.stderr and message in p.stderr, p.stderr
    assert no_downloads_left(base)
    assert base("images").stdout.count("\n") <= 2  # nothing tagged


def test_add_url_cache_follows_the_remote_content(base, server, tmp_path):
    server.file("/v.txt", b"one\n")
    df = f"FROM busybox\nADD {server.base}/v.txt /v.txt\nRUN cat /v.txt > /copy\n"
    first = build(base, tmp_path, df, "-t", "v")
    assert "#2 CACHED" not in first.stderr
    same = build(base, tmp_path, df, "-t", "v")
    assert "#2 CACHED" in same.stderr and "#3 CACHED" in same.stderr
    assert base("run", "--rm", "v", "cat", "/copy").stdout == "one\n"

    server.file("/v.txt", b"two\n")
    changed = build(base, tmp_path, df, "-t", "v")
    assert "#2 CACHED" not in changed.stderr and "#3 CACHED" not in changed.stderr
    assert f"#2 cache miss: file `{server.base}/v.txt` changed" in changed.stderr, changed.stderr
    assert base("run", "--rm", "v", "cat", "/copy").stdout == "two\n"
    # A new Last-Modified alone changes the file's mtime, so it reruns the step too (as BuildKit).
    server.file("/v.txt", b"two\n", last_modified=LAST_MODIFIED + 60)
    touched = build(base, tmp_path, df, "-t", "v")
    assert "#2 CACHED" not in touched.stderr
