"""SIGINT, SIGTERM and SIGKILL to cbuild at several points of a build (a RUN that sleeps, a big
COPY, parallel stages) and of a `cbuild run`: cbuild ends within 10 s with 130/143, leaves no
mount, process, cgroup, active snapshot, ingest file or name lock (after SIGKILL: once the next
cbuild has started), steps not yet started never start, and the next build succeeds."""
import os
import random
import signal
import subprocess
import threading
import time

import pytest

from conftest import CBUILD, mountinfo
from leftovers import (assert_nothing_left, cgroups_of, processes_matching, store_leftovers, wait_until)

SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGKILL]
TIMINGS = []  # (what, signal, seconds from the signal to cbuild's exit), printed at the end


class Proc:
    """A cbuild process whose stdout and stderr are collected as they come."""

    def __init__(self, root, *args, cwd=None):
        self.p = subprocess.Popen([CBUILD, "--root", root, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, cwd=cwd)
        self.out, self.err = [], []
        self.threads = [threading.Thread(target=self._read, args=(s, b), daemon=True)
                        for s, b in ((self.p.stdout, self.out), (self.p.stderr, self.err))]
        for t in self.threads:
            t.start()

    @staticmethod
    def _read(stream, buf):
        for line in stream:
            buf.append(line)

    @property
    def pid(self):
        return self.p.pid

    def stderr(self):
        return "".join(self.err)

    def stdout(self):
        return "".join(self.out)

    def interrupt(self, sig, what):
        """Sends `sig`, waits for the exit, records and returns (exit code, seconds)."""
        t0 = time.monotonic()
        self.p.send_signal(sig)
        rc = self.p.wait(timeout=30)
        dt = time.monotonic() - t0
        for t in self.threads:
            t.join(timeout=10)
        TIMINGS.append((what, signal.Signals(sig).name, dt))
        return rc, dt


@pytest.fixture(scope="module", autouse=True)
def report_timings():
    yield
    if TIMINGS:
        print("\nsignal → cbuild exit:")
        for what, sig, dt in TIMINGS:
            print(f"  {what:<24} {sig:<8} {dt:6.2f} s")


def marker():
    return str(random.randint(700000, 799999))


def running(cmd):
    """True once a process runs exactly `cmd` (e.g. "sleep 712345")."""
    return any(c.strip() == cmd for _, c in processes_matching(cmd))


def check_after(cb, proc, sig, mark, before, rc, dt):
    if sig == signal.SIGKILL:
        assert rc == -signal.SIGKILL
        # Processes die with cbuild (the sandbox init has PDEATHSIG), mounts with its namespace.
        assert_nothing_left(cb.root, proc.pid, mark, before, store=False)
    else:
        assert rc == 128 + sig, proc.stderr()
        assert dt < 10, f"cbuild took {dt:.1f}s to exit"
        assert_nothing_left(cb.root, proc.pid, mark, before)


def next_build_cleans_and_succeeds(cb, tmp_path, killed_pid, *build_args):
    ctx = tmp_path / "next"
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo next > /next\n")
    cb("build", "-t", "next", *build_args, str(ctx))
    assert cb("run", "--rm", "next", "cat", "/next").stdout == "next\n"
    assert not store_leftovers(cb.root), store_leftovers(cb.root)
    assert not cgroups_of(killed_pid)


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_build_interrupted_during_run_step(base, tmp_path, sig):
    m = marker()
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\nARG S=0\nRUN echo one > /one\nRUN sleep $S\nRUN echo never-started\n")
    before = mountinfo()
    p = Proc(base.root, "build", "--progress", "plain", "-t", "img", "--build-arg", f"S={m}", str(tmp_path))
    assert wait_until(lambda: running(f"sleep {m}"), timeout=60), p.stderr()
    rc, dt = p.interrupt(sig, "build: RUN sleep")
    check_after(base, p, sig, m, before, rc, dt)
    assert "never-started" not in p.stderr()
    if sig != signal.SIGKILL:
        assert f"cbuild: interrupted by {sig.name}" in p.stderr()
    # The same Dockerfile builds (the interrupted step was not recorded in the cache).
    base("build", "-t", "img", "--build-arg", "S=0", str(tmp_path))
    assert base("run", "--rm", "img", "cat", "/one").stdout == "one\n"
    next_build_cleans_and_succeeds(base, tmp_path, p.pid)


def test_build_step_that_ignores_signals_is_killed(base, tmp_path):
    m = marker()
    (tmp_path / "Dockerfile").write_text(f"FROM busybox\nRUN trap '' INT TERM; sleep {m}; echo survived\n")
    before = mountinfo()
    p = Proc(base.root, "build", "--progress", "plain", str(tmp_path))
    assert wait_until(lambda: running(f"sleep {m}"), timeout=60), p.stderr()
    rc, dt = p.interrupt(signal.SIGTERM, "build: RUN ignoring TERM")
    assert rc == 143 and 4 < dt < 10, (rc, dt)
    assert_nothing_left(base.root, p.pid, m, before)
    next_build_cleans_and_succeeds(base, tmp_path, p.pid)


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_build_interrupted_during_big_copy(base, tmp_path, sig):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    with open(ctx / "big.bin", "wb") as f:
        f.truncate(3 << 30)  # sparse: cheap to make, 3 GiB to hash and write
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY big.bin /big.bin\nRUN echo never-started\n")
    before = mountinfo()
    p = Proc(base.root, "build", "--progress", "plain", str(ctx))
    active = os.path.join(base.root, "active")

    def copying():
        if not os.path.isdir(active):
            return False
        for d in os.listdir(active):
            try:
                if os.path.getsize(os.path.join(active, d, "upper", "big.bin")) > 0:
                    return True
            except OSError:
                pass
        return False

    assert wait_until(copying, timeout=120, step=0.01), p.stderr()
    rc, dt = p.interrupt(sig, "build: COPY 3 GiB")
    assert "DONE" not in p.stderr().split("COPY big.bin", 1)[1], "the copy finished before the signal"
    check_after(base, p, sig, "never-started", before, rc, dt)
    assert "never-started" not in p.stderr()
    next_build_cleans_and_succeeds(base, tmp_path, p.pid)


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_build_interrupted_with_parallel_stages(base, tmp_path, sig):
    m1, m2 = marker(), marker()
    (tmp_path / "Dockerfile").write_text(
        f"FROM busybox AS a\nRUN sleep {m1}\n"
        f"FROM busybox AS b\nRUN sleep {m2}\n"
        "FROM busybox AS c\nRUN echo c > /c\n"
        "FROM busybox\nCOPY --from=a /etc/passwd /a\nCOPY --from=b /etc/passwd /b\nRUN echo never-started\n")
    before = mountinfo()
    p = Proc(base.root, "build", "--progress", "plain", str(tmp_path))
    assert wait_until(lambda: running(f"sleep {m1}") and running(f"sleep {m2}"), timeout=60), p.stderr()
    rc, dt = p.interrupt(sig, "build: 2 parallel stages")
    check_after(base, p, sig, m1, before, rc, dt)
    assert not processes_matching(f"sleep {m2}")
    assert "COPY --from" not in p.stderr() and "never-started" not in p.stderr()
    if sig != signal.SIGKILL:
        # Both running steps were stopped, each reported as interrupted.
        assert p.stderr().count("ERROR: interrupted by") == 2, p.stderr()
    next_build_cleans_and_succeeds(base, tmp_path, p.pid)


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_run_interrupted(base, tmp_path, sig):
    m = marker()
    before = mountinfo()
    p = Proc(base.root, "run", "--rm", "--name", "job", "busybox", "sh", "-c", f"echo ready; sleep {m}")
    assert wait_until(lambda: p.out and running(f"sleep {m}"), timeout=60), p.stderr()
    rc, dt = p.interrupt(sig, "run: sleep")
    check_after(base, p, sig, m, before, rc, dt)
    # The name is free again (after SIGKILL its stale file is taken over and then removed).
    assert base("run", "--rm", "--name", "job", "busybox", "echo", "ok").stdout == "ok\n"
    next_build_cleans_and_succeeds(base, tmp_path, p.pid)


def test_run_command_that_ignores_signals_is_killed(base, tmp_path):
    m = marker()
    before = mountinfo()
    p = Proc(base.root, "run", "--rm", "busybox", "sh", "-c", f"trap '' INT TERM; echo ready; sleep {m}")
    assert wait_until(lambda: p.out and running(f"sleep {m}"), timeout=60), p.stderr()
    rc, dt = p.interrupt(signal.SIGINT, "run: ignoring INT")
    assert rc == 130 and 4 < dt < 10, (rc, dt)
    assert_nothing_left(base.root, p.pid, m, before)
