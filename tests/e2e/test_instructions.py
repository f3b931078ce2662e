"""Multi-stage builds, ARG/ENV scoping and config instructions, driven through the cbuild binary."""
import json
import re
import time

import pytest

MULTI = """\
ARG BASE=busybox
FROM $BASE AS a
RUN sleep 2; echo a > /a
FROM $BASE AS b
RUN sleep 2; echo b > /b
FROM busybox AS unused
RUN exit 1
FROM busybox
ARG GREETING=hi
ENV X=1 Y="two words"
LABEL org.example.k=v
EXPOSE 80 53/udp
WORKDIR sub
COPY --from=a /a /out/
COPY --from=b /b /out/
COPY --chown=daemon:bin --chmod=600 <<EOT /out/h.txt
hello $X
EOT
RUN echo "$GREETING|$X|$Y" > /out/run.txt
USER nobody
RUN id -u > /tmp/uid
ENTRYPOINT ["sh", "-c"]
CMD ["cat /out/run.txt"]
HEALTHCHECK --interval=5s --retries=2 CMD true
STOPSIGNAL SIGTERM
VOLUME /data
"""


def inspect(cb, name):
    return json.loads(cb("inspect", name).stdout)[0]["Config"]


def test_multi_stage_parallel_and_config(base, tmp_path):
    (tmp_path / "Dockerfile").write_text(MULTI)
    t0 = time.time()
    p = base("build", "--progress", "plain", "-t", "ms", "--build-arg", "GREETING=hello", str(tmp_path))
    took = time.time() - t0
    assert "exit 1" not in p.stderr  # the unused stage was not built
    assert took < 3.9 + 2, f"stages a and b should sleep in parallel; build took {took:.1f}s"
    cfg = inspect(base, "ms")
    c = cfg["config"]
    assert "X=1" in c["Env"] and "Y=two words" in c["Env"]
    assert not any(e.startswith("GREETING=") for e in c["Env"])  # ARGs stay out of the image
    assert c["Labels"] == {"org.example.k": "v"}
    assert sorted(c["ExposedPorts"]) == ["53/udp", "80/tcp"]
    assert c["WorkingDir"] == "/sub"
    assert c["User"] == "nobody"
    assert c["Entrypoint"] == ["sh", "-c"] and c["Cmd"] == ["cat /out/run.txt"]
    assert c["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000, "Retries": 2}
    assert c["StopSignal"] == "SIGTERM"
    assert list(c["Volumes"]) == ["/data"]
    out = base("run", "--rm", "ms")
    assert out.stdout == "hello|1|two words\n"
    # As root: the image's USER (nobody) may not read the 0600 file, as with docker run.
    ls = base("run", "--rm", "-u", "root", "--entrypoint", "", "ms", "sh", "-c",
              "cat /out/a /out/b /out/h.txt /tmp/uid; stat -c '%u:%g %a' /out/h.txt").stdout
    assert ls == "a\nb\nhello 1\n65534\n1:2 600\n"
    hist = [h.get("created_by", "") for h in cfg["history"]]
    assert any(h.startswith("RUN |1 GREETING=hello /bin/sh -c") for h in hist), hist


def test_target_builds_only_what_it_needs(base, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox AS one\nRUN echo one > /one\n"
                                         "FROM busybox AS two\nRUN exit 9\n")
    p = base("build", "--progress", "plain", "--target", "one", "-t", "one", str(tmp_path))
    assert "exit 9" not in p.stderr
    assert base("run", "--rm", "one", "cat", "/one").stdout == "one\n"
    p = base("build", "--target", "three", str(tmp_path), check=False)
    assert p.returncode == 1 and "three" in p.stderr


def test_from_stage_and_onbuild(base, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\nONBUILD RUN echo triggered > /t\n")
    base("build", "-t", "parent", str(tmp_path))
    child = tmp_path / "child"
    child.mkdir()
    (child / "Dockerfile").write_text("FROM parent AS p\nRUN echo x > /x\nFROM p\nRUN cat /t /x\n")
    base("build", "-t", "child", str(child))
    assert base("run", "--rm", "child", "cat", "/t").stdout == "triggered\n"
    assert "OnBuild" not in inspect(base, "child")["config"]


def test_copy_wildcards_and_dest_rules(base, tmp_path):
    for n in ["a.txt", "b.txt", "c.md"]:
        (tmp_path / n).write_text(n)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "inner").write_text("inner")
    (tmp_path / "Dockerfile").write_text("FROM busybox\nCOPY *.txt /w/\nCOPY d /dd\nCOPY c.md /renamed\n"
                                         "COPY --parents d/inner /p/\n")
    base("build", "-t", "cp", str(tmp_path))
    out = base("run", "--rm", "cp", "sh", "-c", "ls /w; cat /dd/inner /renamed /p/d/inner").stdout
    assert out == "a.txt\nb.txt\ninner" + "c.md" + "inner"


def test_add_extracts_local_archives(base, tmp_path):
    import tarfile
    src = tmp_path / "payload"
    src.mkdir()
    (src / "f").write_text("from tar")
    with tarfile.open(tmp_path / "p.tar.gz", "w:gz") as t:
        t.add(src / "f", arcname="f")
    (tmp_path / "Dockerfile").write_text("FROM busybox\nADD p.tar.gz /x/\n")
    base("build", "-t", "add", str(tmp_path))
    assert base("run", "--rm", "add", "cat", "/x/f").stdout == "from tar"


def test_run_mounts_cache_tmpfs_secret_bind(base, tmp_path):
    (tmp_path / "s.txt").write_text("s3cret")
    (tmp_path / "data").write_text("bound")
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\n"
        "RUN --mount=type=cache,target=/c echo run >> /c/log; wc -l < /c/log > /count\n"
        "RUN --mount=type=tmpfs,target=/t touch /t/x && test -f /t/x\n"
        "RUN --mount=type=secret,id=tok cat /run/secrets/tok > /dev/null && test -n \"$(cat /run/secrets/tok)\"\n"
        "RUN --mount=type=bind,source=data,target=/b cat /b > /bound\n")
    base("build", "-t", "mounts", "--secret", f"id=tok,src={tmp_path / 's.txt'}", str(tmp_path))
    out = base("run", "--rm", "mounts", "sh", "-c", "cat /count /bound; ls /t /run/secrets 2>&1 | wc -l").stdout
    assert out.startswith("1\nbound")
    save = tmp_path / "img.tar"
    base("save", "mounts", "-o", str(save))
    assert b"s3cret" not in save.read_bytes()  # a secret never lands in a layer
    # the cache mount persists across builds: a --no-cache rebuild appends a second line
    base("build", "--no-cache", "-t", "mounts", "--secret", f"id=tok,src={tmp_path / 's.txt'}", str(tmp_path))
    assert base("run", "--rm", "mounts", "cat", "/count").stdout == "2\n"


def test_unknown_flag_and_bad_instruction_are_located(base, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\nCOPY --bogus=1 a /b\n")
    p = base("build", str(tmp_path), check=False)
    assert p.returncode == 1 and "Dockerfile:2" in p.stderr and "bogus" in p.stderr
