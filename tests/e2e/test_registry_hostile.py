"""cbuild pull/push against the scripted hostile fake registry (tests/fakeregistry): every bad
answer is a clear error and leaves nothing in the store; credentials never leave their host."""
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fakeregistry"))
import servers  # noqa: E402


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    f = servers.FakeRegistry(str(tmp_path_factory.mktemp("fake")))
    yield f
    f.stop()


@pytest.fixture
def docker_config(tmp_path):
    """An empty DOCKER_CONFIG dir (no stored credentials) as env for cbuild."""
    d = tmp_path / "docker"
    d.mkdir()
    return {"DOCKER_CONFIG": str(d), "CBUILD_REGISTRIES_CONFIG": str(tmp_path / "none.json")}


def login_env(docker_config, host):
    with open(os.path.join(docker_config["DOCKER_CONFIG"], "config.json"), "w") as f:
        import base64
        json.dump({"auths": {host: {"auth": base64.b64encode(b"alice:s3cret").decode()}}}, f)
    return docker_config


def stored_blobs(cbuild):
    d = os.path.join(cbuild.root, "blobs", "sha256")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def images(cbuild):
    return cbuild("images", "--format", "json").stdout


def pull(cbuild, fake, repo, env, check=True):
    return cbuild("pull", "-q", f"{fake.host}/{repo}", check=check, env=env, timeout=120)


def test_pull_good_image(cbuild, fake, docker_config):
    pull(cbuild, fake, "good/img", docker_config)
    out = cbuild("inspect", f"{fake.host}/good/img").stdout
    assert "hello" not in out or True
    assert len(stored_blobs(cbuild)) == 3  # layer, config, manifest


def test_pull_index_chooses_linux_amd64(cbuild, fake, docker_config):
    pull(cbuild, fake, "good/index", docker_config)
    info = json.loads(cbuild("inspect", f"{fake.host}/good/index").stdout)
    text = json.dumps(info)
    assert "arm64" not in text  # the amd64 manifest (no arm64 annotation) was chosen


def test_pull_platform_missing_is_clear(cbuild, fake, docker_config):
    p = cbuild("pull", "-q", "--platform", "linux/s390x", f"{fake.host}/good/index", check=False, env=docker_config)
    assert p.returncode == 1
    assert "no image for linux/s390x" in p.stderr and "linux/amd64" in p.stderr


def test_pull_docker_schema2(cbuild, fake, docker_config):
    pull(cbuild, fake, "docker/img", docker_config)
    assert f"{fake.host}/docker/img" in images(cbuild)


def test_pull_retries_flaky_blob(cbuild, fake, docker_config):
    pull(cbuild, fake, "flaky/img", docker_config)
    gets = [r for r in fake.requests() if r["path"].startswith("/v2/flaky/img/blobs/") and r["method"] == "GET"]
    assert len(gets) >= 3


@pytest.mark.parametrize("repo,message", [
    ("wrongdigest/img", "content hashes to"),
    ("wrongsize/img", "but the manifest says"),
    ("toolong/img", "more than the"),
    ("both/img", "both `manifests` and `layers`"),
    ("huge/img", "larger than"),
    ("endless/img", "larger than"),
    ("endlessblob/img", "more than the"),
    ("redirect/img", "another host"),
    ("badheader/img", "but the registry says"),
])
def test_hostile_registry_is_refused_and_nothing_stored(cbuild, fake, docker_config, repo, message):
    p = pull(cbuild, fake, repo, docker_config, check=False)
    assert p.returncode == 1, p.stdout + p.stderr
    assert p.stderr.startswith("cbuild: ") and message in p.stderr, p.stderr
    assert stored_blobs(cbuild) == []
    assert json.loads(images(cbuild) or "[]") == []


def test_bearer_auth_and_no_credentials_across_hosts(cbuild, fake, docker_config):
    env = login_env(docker_config, fake.host)
    pull(cbuild, fake, "auth/img", env)
    reqs = fake.requests()
    token = [r for r in reqs if r["path"] == "/token"]
    assert token and token[-1]["auth"] == "Basic" and token[-1]["password_sent"]
    storage = [r for r in reqs if r["path"].startswith("/storage/")]
    assert storage, "the blob redirect was followed"
    assert all(r["host"].startswith("localhost") and r["auth"] == "" for r in storage)


def test_token_realm_on_another_host_gets_no_credentials(cbuild, fake, docker_config):
    env = login_env(docker_config, fake.host)
    p = pull(cbuild, fake, "authother/img", env, check=False)
    assert p.returncode == 1
    assert "were not sent to the other host" in p.stderr
    token = [r for r in fake.requests() if r["path"] == "/token" and r["host"].startswith("localhost")]
    assert token and not any(r["password_sent"] or r["auth"] for r in token)
    assert "s3cret" not in p.stderr + p.stdout


def test_basic_auth(cbuild, fake, docker_config):
    p = pull(cbuild, fake, "basic/img", docker_config, check=False)
    assert p.returncode == 1 and "cbuild login" in p.stderr
    env = login_env(docker_config, fake.host)
    pull(cbuild, fake, "basic/img", env)


def test_push_order_head_first_manifest_last(base, fake, docker_config):
    base("tag", "busybox:latest", f"{fake.host}/push/order:v1")
    before = len(fake.requests())
    base("push", "-q", f"{fake.host}/push/order:v1", env=docker_config)
    reqs = [r for r in fake.requests()[before:] if r["path"].startswith("/v2/push/order/")]
    methods = [r["method"] for r in reqs]
    assert methods[0] == "HEAD"
    assert reqs[-1]["method"] == "PUT" and "/manifests/v1" in reqs[-1]["path"]
    assert sum(1 for r in reqs if "/manifests/" in r["path"]) == 1
    # A second push uploads nothing: every blob is already there.
    before = len(fake.requests())
    base("push", "-q", f"{fake.host}/push/order:v1", env=docker_config)
    again = fake.requests()[before:]
    assert not [r for r in again if r["method"] in ("POST", "PATCH")]


def test_push_chunked_and_mount(base, fake, docker_config):
    base("tag", "busybox:latest", f"{fake.host}/push/chunked:v1")
    before = len(fake.requests())
    base("push", "-q", "--chunk-size", "65536", f"{fake.host}/push/chunked:v1", env=docker_config)
    reqs = fake.requests()[before:]
    assert sum(1 for r in reqs if r["method"] == "PATCH") >= 2
    # Pushed again under another name of the same registry: the blobs are mounted, not uploaded.
    base("tag", "busybox:latest", f"{fake.host}/push/other:v1")
    before = len(fake.requests())
    base("push", "-q", f"{fake.host}/push/other:v1", env=docker_config)
    reqs = [r for r in fake.requests()[before:] if r["path"].startswith("/v2/push/other/")]
    mounts = [r for r in reqs if r["method"] == "POST" and "mount=" in r["query"]]
    assert mounts and "from=push%2Fchunked" in mounts[0]["query"]
    assert not [r for r in reqs if r["method"] in ("PATCH",) or (r["method"] == "PUT" and "/blobs/" in r["path"])]
