"""cbuild pull/push/login against Debian's real docker-registry on loopback (one plain, one with
htpasswd auth and TLS from a test CA), and round trips with skopeo."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fakeregistry"))
import servers  # noqa: E402

CBUILD = os.environ.get("CBUILD_BIN", os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "build", "cli", "cbuild"))


def need(tool):
    if not servers.have(tool):
        pytest.skip(f"SKIPPED: `{tool}` is not installed (scripts/setup installs it)")


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    need("docker-registry")
    r = servers.DockerRegistry(str(tmp_path_factory.mktemp("registry")))
    yield r
    r.stop()


@pytest.fixture(scope="module")
def secure_registry(tmp_path_factory):
    need("docker-registry")
    need("htpasswd")
    need("openssl")
    r = servers.DockerRegistry(str(tmp_path_factory.mktemp("secure")), tls=True, user="bob", password="hunter22")
    yield r
    r.stop()


@pytest.fixture
def env(tmp_path):
    d = tmp_path / "docker"
    d.mkdir()
    return {"DOCKER_CONFIG": str(d), "CBUILD_REGISTRIES_CONFIG": str(tmp_path / "none.json")}


@pytest.fixture
def other_root():
    """A second, empty store (the `cbuild` fixture's own root is the first)."""
    root = tempfile.mkdtemp(prefix="cbuild-root2-", dir="/var/tmp")

    def run(*args, check=True, env=None, input=None):
        e = dict(os.environ, **(env or {}))
        p = subprocess.run([CBUILD, "--root", root, *args], capture_output=True, text=True, env=e, input=input,
                           timeout=300)
        if check and p.returncode != 0:
            raise AssertionError(f"cbuild {' '.join(args)} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
        return p
    run.root = root
    yield run
    subprocess.run(["umount", "-R", root], capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


def inspect_digest(cb, name):
    info = json.loads(cb("inspect", name).stdout)
    if isinstance(info, list):
        info = info[0]
    return info["ManifestDigest"]


def pushed_digest(p):
    """The digest `cbuild push` prints on stdout (NAME@sha256:...)."""
    line = p.stdout.strip().splitlines()[-1]
    assert "@sha256:" in line, p.stdout
    return line.split("@", 1)[1]


def test_push_then_pull_into_fresh_root(base, registry, env, other_root):
    name = f"{registry.host}/library/busybox:1"
    base("tag", "busybox:latest", name)
    p = base("push", name, env=env)
    assert "Pushed" in p.stderr
    other_root("pull", name, env=env)
    assert pushed_digest(p) == inspect_digest(other_root, name)
    # A second pull finds every layer in the store.
    again = other_root("pull", name, env=env)
    assert "Already exists" in again.stderr and "Pull complete" not in again.stderr
    # Pushing again uploads nothing.
    assert "Layer already exists" in base("push", name, env=env).stderr


def test_build_from_registry_image_pulls_it(base, registry, env, other_root, tmp_path):
    name = f"{registry.host}/library/busybox:build"
    base("tag", "busybox:latest", name)
    base("push", "-q", name, env=env)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {registry.host}/library/busybox:build\nRUN echo built > /out\n")
    other_root("build", "-t", "pulled:1", "--progress", "plain", str(ctx), env=env)
    out = other_root("run", "--rm", "pulled:1", "cat", "/out", env=env)
    assert out.stdout.strip() == "built"


def test_build_push(base, registry, env, other_root, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo pushed > /p\n")
    name = f"{registry.host}/built/app:1"
    base("build", "--push", "-t", name, str(ctx), env=env)
    assert other_root("run", "--rm", name, "cat", "/p", env=env).stdout.strip() == "pushed"


def test_run_pulls_missing_image(base, registry, env, other_root):
    name = f"{registry.host}/library/busybox:run"
    base("tag", "busybox:latest", name)
    base("push", "-q", name, env=env)
    p = other_root("run", "--rm", name, "echo", "hello from the registry", env=env)
    assert p.stdout.strip() == "hello from the registry"
    assert name in other_root("images").stdout or "busybox" in other_root("images").stdout


def test_pull_unknown_tag_is_clear(cbuild, registry, env):
    p = cbuild("pull", f"{registry.host}/library/nothing:here", check=False, env=env)
    assert p.returncode == 1
    assert "MANIFEST_UNKNOWN" in p.stderr or "NAME_UNKNOWN" in p.stderr


def test_skopeo_pushes_cbuild_pulls(base, registry, env, other_root, tmp_path):
    need("skopeo")
    archive = str(tmp_path / "bb.tar")
    base("save", "busybox:latest", "-o", archive)
    dest = f"{registry.host}/sk/busybox:v1"
    subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", f"oci-archive:{archive}", f"docker://{dest}"],
                   check=True, capture_output=True)
    raw = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{dest}"], check=True,
                         capture_output=True).stdout
    import hashlib
    want = "sha256:" + hashlib.sha256(raw).hexdigest()
    other_root("pull", "-q", dest, env=env)
    assert inspect_digest(other_root, dest) == want
    assert other_root("run", "--rm", dest, "echo", "ok", env=env).stdout.strip() == "ok"


def test_cbuild_pushes_skopeo_copies(base, registry, env, tmp_path):
    need("skopeo")
    name = f"{registry.host}/cb/busybox:v1"
    base("tag", "busybox:latest", name)
    digest = pushed_digest(base("push", "-q", name, env=env))
    got = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{name}"], check=True,
                         capture_output=True, text=True).stdout
    assert json.loads(got)["Digest"] == digest
    out = tmp_path / "oci"
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false", f"docker://{name}", f"oci:{out}"], check=True,
                   capture_output=True)
    index = json.loads((out / "index.json").read_text())
    assert index["manifests"][0]["digest"] == digest


def test_tls_and_htpasswd_login_push_pull(base, secure_registry, env, other_root):
    host = secure_registry.host
    name = f"{host}/private/busybox:1"
    base("tag", "busybox:latest", name)
    # Without the test CA the TLS handshake fails, clearly.
    p = base("login", "-u", "bob", "--password-stdin", host, input="hunter22\n", check=False, env=env)
    assert p.returncode == 1 and ("certificate" in p.stderr.lower() or "ssl" in p.stderr.lower()), p.stderr
    ca = ["--ca-file", secure_registry.ca]
    # A wrong password is refused and not stored.
    p = base("login", *ca, "-u", "bob", "--password-stdin", host, input="wrong\n", check=False, env=env)
    assert p.returncode == 1 and "401" in p.stderr, p.stderr
    assert "wrong" not in p.stderr
    assert not os.path.exists(os.path.join(env["DOCKER_CONFIG"], "config.json"))
    # Anonymous push is refused with a hint.
    p = base("push", *ca, name, check=False, env=env)
    assert p.returncode == 1 and "cbuild login" in p.stderr, p.stderr
    p = base("login", *ca, "-u", "bob", "--password-stdin", host, input="hunter22\n", env=env)
    assert "Login Succeeded" in p.stdout
    cfg = json.load(open(os.path.join(env["DOCKER_CONFIG"], "config.json")))
    assert host in cfg["auths"]
    digest = pushed_digest(base("push", *ca, "-q", name, env=env))
    other_root("pull", *ca, "-q", name, env=env)
    assert digest == inspect_digest(other_root, name)
    assert "hunter22" not in base("push", *ca, name, env=env).stderr
    p = base("logout", host, env=env)
    assert host not in json.load(open(os.path.join(env["DOCKER_CONFIG"], "config.json")))["auths"]


def test_credential_helper(base, secure_registry, env, tmp_path):
    """credHelpers: docker-credential-<name> on PATH answers `get`."""
    host = secure_registry.host
    bindir = tmp_path / "bin"
    bindir.mkdir()
    helper = bindir / "docker-credential-cbtest"
    helper.write_text("#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\n"
                      "echo '{\"ServerURL\":\"'$server'\",\"Username\":\"bob\",\"Secret\":\"hunter22\"}'\n")
    helper.chmod(0o755)
    with open(os.path.join(env["DOCKER_CONFIG"], "config.json"), "w") as f:
        json.dump({"credHelpers": {host: "cbtest"}}, f)
    name = f"{host}/helper/busybox:1"
    base("tag", "busybox:latest", name)
    e = dict(env, PATH=f"{bindir}:{os.environ['PATH']}")
    base("push", "--ca-file", secure_registry.ca, "-q", name, env=e)
