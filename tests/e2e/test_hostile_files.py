"""Hostile files never hang cbuild, never make it read a host device, never make a key lie.

Images whose /etc/passwd is a FIFO or a /dev/zero-like character node (made by a RUN step, as a
hostile base image would ship them), contexts with FIFOs, sockets and device nodes: every case
ends in well under the test's timeout with what a user should see. Device nodes made here are
only ever char 1,3 (/dev/null) and 1,5 (/dev/zero) — never a block device of a real disk.
"""
import os
import socket
import stat
import subprocess
import time

import pytest

from conftest import CBUILD

FAST = 20  # seconds: a hang shows as a timeout, which the assertion below names


def build(cb, ctx, *args, check=False, timeout=FAST):
    t0 = time.monotonic()
    try:
        p = cb("build", "--progress", "plain", *args, str(ctx), check=check, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"cbuild build hung (> {timeout} s)")
    return p, time.monotonic() - t0


def context(tmp_path, dockerfile, name="ctx"):
    ctx = tmp_path / name
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text(dockerfile)
    return ctx


# A base whose /etc/passwd (or /etc/group) is not a regular file. RUN runs as root without
# reading them (no USER), so the image can be built; the steps after it are what is tested.
HOSTILE = {
    "fifo": "mkfifo {path}",
    "zero": "mknod {path} c 1 5",
}


def hostile_image(cb, tmp_path, kind, path="/etc/passwd", tag="hostile"):
    cmd = HOSTILE[kind].format(path=path)
    ctx = context(tmp_path, f"FROM busybox\nRUN rm -f {path} && {cmd}\n", name=f"base-{kind}-{tag}")
    cb("build", "-t", tag, str(ctx))
    return tag


@pytest.mark.parametrize("kind", ["fifo", "zero"])
def test_user_lookup_refuses_a_passwd_that_is_not_a_regular_file(base, tmp_path, kind):
    img = hostile_image(base, tmp_path, kind)
    ctx = context(tmp_path, f"FROM {img}\nUSER nobody\nRUN true\n")
    p, took = build(base, ctx)
    assert p.returncode != 0
    assert "/etc/passwd" in p.stderr and "not a regular file" in p.stderr, p.stderr
    assert took < 10, f"took {took:.1f} s"


@pytest.mark.parametrize("kind", ["fifo", "zero"])
def test_chown_lookup_refuses_a_group_file_that_is_not_regular(base, tmp_path, kind):
    img = hostile_image(base, tmp_path, kind, path="/etc/group")
    ctx = context(tmp_path, f"FROM {img}\nCOPY --chown=root:daemon Dockerfile /x\n")
    p, _ = build(base, ctx)
    assert p.returncode != 0
    assert "/etc/group" in p.stderr and "not a regular file" in p.stderr, p.stderr


def test_run_u_refuses_a_fifo_passwd_quickly(base, tmp_path):
    img = hostile_image(base, tmp_path, "fifo")
    t0 = time.monotonic()
    try:
        p = base("run", "--rm", "-u", "nobody", img, "true", check=False, timeout=FAST)
    except subprocess.TimeoutExpired:
        pytest.fail("cbuild run -u hung on a FIFO /etc/passwd")
    assert p.returncode == 125, p.stderr
    assert "/etc/passwd" in p.stderr and "not a regular file" in p.stderr, p.stderr
    assert time.monotonic() - t0 < 10


def test_numeric_user_needs_no_passwd_read(base, tmp_path):
    img = hostile_image(base, tmp_path, "zero")
    ctx = context(tmp_path, f"FROM {img}\nUSER 1000:1000\nRUN true\n")
    p, _ = build(base, ctx)
    assert p.returncode == 0, p.stderr


def test_oversized_passwd_is_an_error_not_a_truncation(base, tmp_path):
    ctx = context(tmp_path, "FROM busybox\nRUN dd if=/dev/zero bs=1M count=5 2>/dev/null | tr '\\0' 'x' >> /etc/passwd\n"
                            "USER nobody\nRUN true\n")
    p, _ = build(base, ctx)
    assert p.returncode != 0
    assert "/etc/passwd" in p.stderr and "larger than" in p.stderr, p.stderr


def test_copy_from_a_fifo_or_device_in_a_stage_never_reads_it(base, tmp_path):
    ctx = context(tmp_path, "FROM busybox AS src\nRUN mkfifo /pipe && mknod /zero c 1 5 && mkdir /d && "
                            "mkfifo /d/pipe && mknod /d/null c 1 3 && echo hi > /d/file\n"
                            "FROM busybox\nCOPY --from=src /pipe /zero /out/\nCOPY --from=src /d /d2\n"
                            "RUN stat -c '%n %F %t,%T' /out/pipe /out/zero /d2/pipe /d2/null /d2/file > /types\n")
    p, _ = build(base, ctx, "-t", "copied")
    assert p.returncode == 0, p.stderr
    out = base("run", "--rm", "copied", "cat", "/types").stdout.splitlines()
    assert out == ["/out/pipe fifo 0,0", "/out/zero character special file 1,5", "/d2/pipe fifo 0,0",
                   "/d2/null character special file 1,3", "/d2/file regular file 0,0"], out


def make_special_context(tmp_path, dockerfile):
    ctx = context(tmp_path, dockerfile)
    (ctx / "a.txt").write_text("a\n")
    os.mkfifo(ctx / "pipe")
    os.mknod(ctx / "zero", 0o644 | stat.S_IFCHR, os.makedev(1, 5))
    (ctx / "sub").mkdir()
    os.mkfifo(ctx / "sub" / "pipe2")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(ctx / "sub" / "sock"))
    return ctx, sock


def test_copy_dot_with_special_files_in_the_context(base, tmp_path):
    ctx, sock = make_special_context(tmp_path, "FROM busybox\nCOPY . /x\n"
                                     "RUN cd /x && stat -c '%n %F' a.txt pipe zero sub/pipe2 > /types; "
                                     "test ! -e sub/sock && echo nosock >> /types\n")
    try:
        p, took = build(base, ctx, "-t", "specials")
    finally:
        sock.close()
    assert p.returncode == 0, p.stderr
    assert took < 15
    out = base("run", "--rm", "specials", "cat", "/types").stdout.splitlines()
    assert out == ["a.txt regular file", "pipe fifo", "zero character special file", "sub/pipe2 fifo", "nosock"], out
    assert "sub/sock" in p.stderr and "socket" in p.stderr and "skipped" in p.stderr, p.stderr


def test_copy_a_named_fifo_source(base, tmp_path):
    ctx, sock = make_special_context(tmp_path, "FROM busybox\nCOPY pipe zero /y/\nRUN stat -c '%F' /y/pipe /y/zero\n")
    sock.close()
    p, _ = build(base, ctx)
    assert p.returncode == 0, p.stderr
    assert "fifo" in p.stderr and "character special file" in p.stderr


def test_device_numbers_are_in_the_key(base, tmp_path):
    ctx = context(tmp_path, "FROM busybox\nCOPY dev /dev-copy\n")
    (ctx / "dev").mkdir()
    os.mknod(ctx / "dev" / "n", 0o644 | stat.S_IFCHR, os.makedev(1, 3))
    p, _ = build(base, ctx, check=True)
    os.unlink(ctx / "dev" / "n")
    os.mknod(ctx / "dev" / "n", 0o644 | stat.S_IFCHR, os.makedev(1, 5))
    p, _ = build(base, ctx, check=True)
    assert "CACHED" not in p.stderr.split("COPY dev")[1], p.stderr


def test_sigterm_during_a_context_walk_with_a_fifo_exits(base, tmp_path):
    ctx, sock = make_special_context(tmp_path, "FROM busybox\nCOPY . /x\n")
    sock.close()
    proc = subprocess.Popen([CBUILD, "--root", base.root, "build", str(ctx)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        proc.wait(timeout=FAST)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail("cbuild ignored SIGTERM while a FIFO was in the context")
        pytest.fail("cbuild build hung on a FIFO in the context")
    assert proc.returncode == 0, proc.stderr.read()
