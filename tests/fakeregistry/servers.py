"""Test servers on loopback: Debian's docker-registry (plain, and htpasswd + TLS from a test CA
made here with openssl) and the scripted hostile fake registry (fakeregistry.py)."""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def make_ca(d):
    """A test CA and a server certificate for 127.0.0.1 / localhost signed by it."""
    def run(*a):
        subprocess.run(a, check=True, capture_output=True, cwd=d)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=cbuild test CA")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1")
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "san.ext")
    return os.path.join(d, "ca.pem"), os.path.join(d, "server.pem"), os.path.join(d, "server.key")


class DockerRegistry:
    """Debian's docker-registry on 127.0.0.1:<free port>; stop() ends it."""

    def __init__(self, workdir, tls=False, user=None, password=None):
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.ca = None
        cfg = ["version: 0.1", "log:", "  level: error", "  accesslog:", "    disabled: true",
               "storage:", "  filesystem:", f"    rootdirectory: {workdir}/data", "  delete:", "    enabled: true",
               "http:", f"  addr: 127.0.0.1:{self.port}"]
        if tls:
            self.ca, cert, key = make_ca(workdir)
            cfg += ["  tls:", f"    certificate: {cert}", f"    key: {key}"]
        if user:
            hp = os.path.join(workdir, "htpasswd")
            out = subprocess.run(["htpasswd", "-Bbn", user, password], check=True, capture_output=True, text=True)
            with open(hp, "w") as f:
                f.write(out.stdout)
            cfg += ["auth:", "  htpasswd:", "    realm: cbuild-test", f"    path: {hp}"]
        path = os.path.join(workdir, "config.yml")
        with open(path, "w") as f:
            f.write("\n".join(cfg) + "\n")
        self.log = open(os.path.join(workdir, "registry.log"), "w")
        self.proc = subprocess.Popen(["docker-registry", "serve", path], stdout=self.log, stderr=subprocess.STDOUT)
        wait_port(self.port, self.proc)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class FakeRegistry:
    """tests/fakeregistry/fakeregistry.py on 127.0.0.1:<free port>; the request log is JSON lines."""

    def __init__(self, workdir, bind="127.0.0.1"):
        os.makedirs(workdir, exist_ok=True)
        self.port = free_port()
        self.host = f"{bind}:{self.port}"
        self.logfile = os.path.join(workdir, f"requests-{self.port}.jsonl")
        self.err = open(os.path.join(workdir, f"fake-{self.port}.log"), "w")
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "fakeregistry.py"), "--bind", bind,
                                      "--port", str(self.port), "--log", self.logfile],
                                     stdout=self.err, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://{self.host}/health", timeout=1).read()
                break
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("fake registry did not start")
                time.sleep(0.05)

    def requests(self):
        import json
        if not os.path.exists(self.logfile):
            return []
        with open(self.logfile) as f:
            return [json.loads(l) for l in f if l.strip()]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.err.close()


def have(tool):
    return shutil.which(tool) is not None
