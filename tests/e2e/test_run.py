"""`cbuild run` behaves like `docker run`: every flag, networks, exit codes, streaming output, a
real terminal with -it (driven through tmux), and nothing left behind."""
import os
import re
import shutil
import socket
import subprocess
import threading
import time

import pytest

from conftest import CBUILD, mountinfo
from leftovers import processes_matching, store_leftovers, wait_until


def run(cb, *args, **kw):
    return cb("run", "--rm", *args, **kw)


def build_image(cb, tmp_path, name, dockerfile):
    ctx = tmp_path / f"ctx-{name}"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(dockerfile)
    cb("build", "-t", name, str(ctx))


def test_help_lists_every_flag(cbuild):
    out = cbuild("run", "--help").stdout
    for flag in ["--rm", "-i", "-t", "-e", "-v", "-w", "-u", "--entrypoint", "--network", "--name", "--hostname",
                 "125", "126", "127", "SIGINT", "default", "none", "host"]:
        assert flag in out, flag


def test_exit_codes_like_docker(base):
    assert run(base, "busybox", "true").returncode == 0
    assert run(base, "busybox", "sh", "-c", "exit 7", check=False).returncode == 7
    assert run(base, "busybox", "sh", "-c", "kill -9 $$", check=False).returncode == 137
    p = run(base, "busybox", "no-such-command", check=False)
    assert p.returncode == 127 and "no-such-command" in p.stderr and "not found" in p.stderr
    p = run(base, "busybox", "/etc/passwd", check=False)
    assert p.returncode == 126 and "Permission denied" in p.stderr
    p = run(base, "no-such-image:1", check=False)
    assert p.returncode == 125 and "no-such-image" in p.stderr
    p = base("run", "--bogus-flag", "busybox", check=False)
    assert p.returncode == 2


def test_output_is_streamed_as_it_comes(base):
    p = subprocess.Popen([CBUILD, "--root", base.root, "run", "--rm", "busybox", "sh", "-c",
                          "echo first; sleep 4; echo second"], stdout=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    assert p.stdout.readline() == "first\n"
    assert time.monotonic() - t0 < 3.5, "the first line waited for the command to end"
    assert p.stdout.readline() == "second\n"
    assert p.wait(timeout=30) == 0


def test_stdin_only_with_i(base):
    assert run(base, "-i", "busybox", "cat", input="typed\n").stdout == "typed\n"
    assert run(base, "busybox", "cat", input="typed\n").stdout == ""


def test_env(base, tmp_path):
    build_image(base, tmp_path, "envimg", "FROM busybox\nENV FROM_IMAGE=img OVER=img\n")
    out = run(base, "-e", "A=1", "-e", "OVER=cli", "-e", "PASSED", "-e", "UNSET_HERE", "envimg", "env",
              env={"PASSED": "from-caller"}).stdout.splitlines()
    assert "A=1" in out and "OVER=cli" in out and "FROM_IMAGE=img" in out and "PASSED=from-caller" in out
    assert not any(l.startswith("UNSET_HERE") for l in out)
    assert "HOME=/root" in out and any(l.startswith("PATH=/usr/local/sbin") for l in out)
    assert any(re.fullmatch(r"HOSTNAME=[0-9a-f]{12}", l) for l in out)
    assert "HOME=/h" in run(base, "-e", "HOME=/h", "busybox", "env").stdout.splitlines()


def test_hostname_is_an_id_unless_given(base):
    assert re.fullmatch(r"[0-9a-f]{12}\n", run(base, "busybox", "hostname").stdout)
    assert run(base, "--hostname", "box1", "busybox", "hostname").stdout == "box1\n"


def test_volumes(base, tmp_path):
    host = tmp_path / "vol"
    host.mkdir()
    (host / "in.txt").write_text("from host\n")
    single = tmp_path / "single.txt"
    single.write_text("one file\n")
    out = run(base, "-v", f"{host}:/data", "-v", f"{single}:/etc/single.txt:ro", "busybox", "sh", "-c",
              "cat /data/in.txt /etc/single.txt; echo written > /data/out.txt").stdout
    assert out == "from host\none file\n"
    assert (host / "out.txt").read_text() == "written\n"
    p = run(base, "-v", f"{host}:/data:ro", "busybox", "sh", "-c", "echo x > /data/ro.txt", check=False)
    assert p.returncode != 0 and "Read-only" in p.stderr and not (host / "ro.txt").exists()
    missing = tmp_path / "made" / "by-run"
    run(base, "-v", f"{missing}:/m", "busybox", "touch", "/m/f")  # created like Docker does
    assert (missing / "f").exists()
    for bad, why in [("relative:/x", "absolute"), (f"{host}:rel", "absolute"), (f"{host}:/x:bogus", "bogus")]:
        p = run(base, "-v", bad, "busybox", "true", check=False)
        assert p.returncode == 125 and why in p.stderr, p.stderr
    # The volume never reaches the image, and the image is unchanged.
    assert run(base, "busybox", "ls", "/data", check=False).returncode != 0


def test_workdir(base):
    assert run(base, "-w", "/new/dir", "busybox", "pwd").stdout == "/new/dir\n"
    p = run(base, "-w", "relative", "busybox", "pwd", check=False)
    assert p.returncode == 125 and "absolute" in p.stderr


def test_user_names_come_from_the_image(base, tmp_path):
    assert run(base, "-u", "nobody", "busybox", "id").stdout == "uid=65534(nobody) gid=65534(nogroup)\n"
    assert run(base, "-u", "nobody:tty", "busybox", "id", "-g").stdout == "5\n"
    assert run(base, "-u", "1234:55", "busybox", "id").stdout == "uid=1234 gid=55\n"
    assert run(base, "-u", "1234", "busybox", "id", "-g").stdout == "0\n"
    p = run(base, "-u", "no-such-user", "busybox", "id", check=False)
    assert p.returncode == 125 and "no-such-user" in p.stderr and "/etc/passwd" in p.stderr
    assert "HOME=/nonexistent" in run(base, "-u", "nobody", "busybox", "env").stdout.splitlines()
    build_image(base, tmp_path, "userimg", "FROM busybox\nUSER daemon\n")
    assert run(base, "userimg", "id", "-u").stdout == "1\n"
    assert run(base, "-u", "root", "userimg", "id", "-u").stdout == "0\n"


def test_entrypoint(base, tmp_path):
    build_image(base, tmp_path, "epimg", 'FROM busybox\nENTRYPOINT ["echo", "ep"]\nCMD ["cmd"]\n')
    assert run(base, "epimg").stdout == "ep cmd\n"
    assert run(base, "epimg", "arg").stdout == "ep arg\n"
    assert run(base, "--entrypoint", "cat", "epimg", "/etc/group").stdout.startswith("root:x:0:")
    assert run(base, "--entrypoint", "hostname", "epimg").stdout.strip() != "cmd"  # CMD dropped
    assert run(base, "--entrypoint", "", "epimg", "echo", "plain").stdout == "plain\n"
    p = run(base, "--entrypoint", "", "epimg", check=False)
    assert p.returncode == 125 and "no command" in p.stderr


@pytest.fixture
def host_service():
    """A TCP service on every host address; yields its port."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", 0))
    srv.listen(8)
    stop = threading.Event()

    def serve():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except OSError:
                continue
            c.sendall(b"hello-from-host\n")
            c.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join()
    srv.close()


def host_address():
    """A non-loopback address of this host, or None."""
    out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        m = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", line)
        if m and not m.group(1).startswith("127."):
            return m.group(1)
    return None


def reach(cb, network, addr, port):
    return run(cb, "--network", network, "busybox", "sh", "-c", f"nc -w 3 {addr} {port} </dev/null",
               check=False).stdout


def test_networks(base, host_service):
    if shutil.which("slirp4netns") is None:
        pytest.skip("SKIPPED: slirp4netns is not installed (scripts/setup installs it)")
    # default: its own namespace with slirp's tap0, like Docker's bridge; the host's loopback
    # stays out of reach, other host addresses are reached through NAT.
    ip = run(base, "busybox", "ip", "-4", "addr").stdout
    assert "tap0" in ip and "10.0.2.100/24" in ip
    assert "tap0" in run(base, "--network", "bridge", "busybox", "ip", "-4", "addr").stdout
    assert "hello-from-host" not in reach(base, "default", "127.0.0.1", host_service)
    addr = host_address()
    if addr:
        assert "hello-from-host" in reach(base, "default", addr, host_service)
        assert "hello-from-host" not in reach(base, "none", addr, host_service)
    # none: loopback only.
    ip = run(base, "--network", "none", "busybox", "ip", "-4", "addr").stdout
    assert "127.0.0.1" in ip and "tap0" not in ip and "eth" not in ip
    assert "hello-from-host" not in reach(base, "none", "127.0.0.1", host_service)
    # host: the host's namespace.
    assert "hello-from-host" in reach(base, "host", "127.0.0.1", host_service)
    p = run(base, "--network", "bogus", "busybox", "true", check=False)
    assert p.returncode == 2


def test_rm_leaves_nothing_and_does_not_change_the_image(base):
    before = mountinfo()
    run(base, "busybox", "sh", "-c", "echo x > /etc/marker")
    base("run", "busybox", "sh", "-c", "echo x > /etc/marker2")  # without --rm: same, nothing is kept
    assert run(base, "busybox", "ls", "/etc/marker", "/etc/marker2", check=False).returncode != 0
    assert not store_leftovers(base.root)
    assert not {m for m in mountinfo() - before if base.root in m[0]}


def test_name_is_unique_while_running(base):
    first = subprocess.Popen([CBUILD, "--root", base.root, "run", "--rm", "--name", "web", "busybox", "sh", "-c",
                              "echo up; sleep 30"], stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline() == "up\n"
        p = run(base, "--name", "web", "busybox", "true", check=False)
        assert p.returncode == 125 and "already in use" in p.stderr
        assert run(base, "--name", "other", "busybox", "echo", "ok").stdout == "ok\n"
    finally:
        first.terminate()
        first.wait(timeout=20)
    assert run(base, "--name", "web", "busybox", "echo", "again").stdout == "again\n"
    assert not store_leftovers(base.root)
    p = run(base, "--name", "bad/name", "busybox", "true", check=False)
    assert p.returncode == 125 and "invalid container name" in p.stderr


def test_tty_without_a_terminal(base):
    p = subprocess.run([CBUILD, "--root", base.root, "run", "--rm", "-t", "busybox", "sh", "-c", "tty; echo $TERM"],
                       capture_output=True, timeout=60)
    assert p.stdout == b"/dev/pts/0\r\nxterm\r\n"  # through the pty's line discipline, as docker run -t
    assert run(base, "busybox", "sh", "-c", "tty", check=False).stdout.strip() == "not a tty"
    assert run(base, "-t", "busybox", "sh", "-c", "exit 3", check=False).returncode == 3


class Tmux:
    """One tmux server of our own, a pane running a command."""

    def __init__(self, tmp_path, command):
        self.sock = str(tmp_path / "tmux.sock")
        subprocess.run(["tmux", "-S", self.sock, "new-session", "-d", "-s", "t", "-x", "100", "-y", "30",
                        command], check=True)

    def keys(self, *keys):
        subprocess.run(["tmux", "-S", self.sock, "send-keys", "-t", "t", *keys], check=True)

    def screen(self):
        return subprocess.run(["tmux", "-S", self.sock, "capture-pane", "-p", "-t", "t"], capture_output=True,
                              text=True).stdout

    def wait_for(self, pattern, timeout=20):
        found = wait_until(lambda: re.search(pattern, self.screen(), re.M), timeout=timeout)
        assert found, f"`{pattern}` not on the screen:\n{self.screen()}"

    def close(self):
        subprocess.run(["tmux", "-S", self.sock, "kill-server"], capture_output=True)


def test_interactive_terminal_through_tmux(base, tmp_path):
    if shutil.which("tmux") is None:
        pytest.skip("SKIPPED: tmux is not installed (scripts/setup installs it)")
    result = tmp_path / "result"
    marker = "4711"
    cmd = (f"{CBUILD} --root {base.root} run -it --rm busybox sh; echo EXIT=$? > {result}; "
           f"stty -a >> {result}; sleep 60")
    before = mountinfo()
    t = Tmux(tmp_path, cmd)
    try:
        t.wait_for(r"^/ #\s*$")  # capture-pane drops trailing blanks
        t.keys("echo hi-$((1+2))", "Enter")
        t.wait_for(r"^hi-3$")
        t.keys("stty size", "Enter")
        t.wait_for(r"^30 100$")
        t.keys(f"sleep {marker}00", "Enter")
        assert wait_until(lambda: any(f"sleep {marker}00" in c for _, c in processes(marker)), timeout=10)
        t.keys("C-c")
        assert wait_until(lambda: not processes(marker), timeout=10), "Ctrl-C did not stop the sleep"
        t.keys("echo status=$?", "Enter")
        t.wait_for(r"^status=130$")
        subprocess.run(["tmux", "-S", t.sock, "resize-window", "-t", "t", "-x", "80", "-y", "20"], check=True)
        t.keys("stty size", "Enter")
        t.wait_for(r"^20 80$")
        t.keys("exit 7", "Enter")
        assert wait_until(lambda: result.exists() and "icanon" in result.read_text(), timeout=20)
        text = result.read_text()
        assert text.startswith("EXIT=7\n")
        # The host terminal is back in cooked mode.
        assert re.search(r"(?<!-)icanon", text) and re.search(r"(?<![-\w])echo\b", text), text
    finally:
        t.close()
    assert not store_leftovers(base.root)
    assert not {m for m in mountinfo() - before if base.root in m[0]}


def processes(marker):
    """The container's processes with `marker` in their command line (not tmux's or cbuild's)."""
    return [(p, c) for p, c in processes_matching(marker) if "tmux" not in c and "cbuild" not in c]
