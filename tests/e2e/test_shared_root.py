"""Many builds, one store (issues 20 and 22): build loops and a prune loop on one --root at once.
Every build must succeed (no "database is locked", no layer pruned from under a build), every
image left must verify, and `cbuild system check` must find the store sound.

Each test is bounded by CBUILD_STRESS_SECONDS (default 30: about 60 s for the file); with
CBUILD_STRESS_BUILDS=N (nightly: 50) every loop runs N builds instead, however long it takes.
The counts are printed: builds run and failed (goal 0), prunes run and failed, the check's result.
"""
import os
import subprocess
import threading
import time

import pytest

from conftest import CBUILD

SECONDS = float(os.environ.get("CBUILD_STRESS_SECONDS", "30"))
BUILDS = int(os.environ.get("CBUILD_STRESS_BUILDS", "0"))

DOCKERFILE = """FROM busybox
RUN echo shared > /shared
ARG N
RUN echo "loop-$N" > /n && sleep 0.2
COPY f.txt /f.txt
RUN cat /f.txt /n > /both
"""


def cb(root, *args, timeout=600):
    return subprocess.run([CBUILD, "--root", root, *args], capture_output=True, text=True, timeout=timeout)


class Loops:
    """Runs `builders` build loops and a prune loop until the time or build budget is spent."""

    def __init__(self, root, tmp_path, builders, prunes):
        self.root, self.tmp, self.builders, self.prune_args = root, tmp_path, builders, prunes
        self.builds = self.build_failures = self.prunes = self.prune_failures = 0
        self.failures = []
        self.last = {}  # loop → the N its last successful build used
        self.lock = threading.Lock()
        self.deadline = time.monotonic() + SECONDS
        self.done = threading.Event()

    def more(self, i):
        return i < BUILDS if BUILDS else time.monotonic() < self.deadline

    def build_loop(self, k):
        ctx = self.tmp / f"ctx{k}"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(DOCKERFILE)
        i = 0
        while self.more(i):
            n = f"{k}-{i % 4}"
            (ctx / "f.txt").write_text(f"file of loop {k}, round {i % 3}\n")
            r = cb(self.root, "build", "-q", "-t", f"loop{k}", "--build-arg", f"N={n}", str(ctx))
            with self.lock:
                self.builds += 1
                if r.returncode == 0:
                    self.last[k] = (n, i % 3)
                else:
                    self.build_failures += 1
                    self.failures.append(f"build loop{k} #{i}: exit {r.returncode}: {r.stderr.strip()}")
            i += 1

    def prune_loop(self):
        j = 0
        while not self.done.is_set():
            args = self.prune_args[j % len(self.prune_args)]
            r = cb(self.root, "prune", *args)
            with self.lock:
                self.prunes += 1
                if r.returncode != 0:
                    self.prune_failures += 1
                    self.failures.append(f"prune {' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
            j += 1
            time.sleep(0.3)

    def run(self):
        builders = [threading.Thread(target=self.build_loop, args=(k,)) for k in range(self.builders)]
        pruner = threading.Thread(target=self.prune_loop)
        for t in builders + [pruner]:
            t.start()
        for t in builders:
            t.join()
        self.done.set()
        pruner.join()


@pytest.mark.parametrize("builders,prunes", [
    (4, [[], ["--all"], ["--keep-storage", "1MB"]]),
    (8, [["--all"], ["--keep-storage", "1MB"]]),
], ids=["4-builds+prune", "8-builds+prune-all+keep-storage"])
def test_build_loops_and_a_prune_loop_share_one_root(base, tmp_path, capsys, builders, prunes):
    loops = Loops(base.root, tmp_path, builders, prunes)
    t0 = time.monotonic()
    loops.run()
    took = time.monotonic() - t0
    check = cb(base.root, "system", "check")
    verdict = "sound" if check.returncode == 0 else "NOT sound"
    with capsys.disabled():
        print(f"\nshared root, {builders} build loops + prune loop ({' / '.join(' '.join(['prune', *a]) for a in prunes)}),"
              f" {took:.0f} s: {loops.builds} builds run, {loops.build_failures} failed; {loops.prunes} prunes,"
              f" {loops.prune_failures} failed; system check: {verdict}")
    assert loops.failures == [], "\n".join(loops.failures[:20])
    assert check.returncode == 0, check.stdout + check.stderr
    assert loops.builds >= builders
    # Every image left verifies blob by blob (save re-hashes what it writes) and holds what
    # its last build put there.
    for k, (n, rnd) in sorted(loops.last.items()):
        r = cb(base.root, "save", f"loop{k}", "-o", str(tmp_path / f"loop{k}.tar"))
        assert r.returncode == 0, r.stderr
        r = cb(base.root, "run", "--rm", f"loop{k}", "cat", "/both")
        assert r.returncode == 0, r.stderr
        assert r.stdout == f"file of loop {k}, round {rnd}\nloop-{n}\n"
    # Nothing left of the processes: no lease, no ingest file, no active snapshot.
    for sub in ("leases", "ingest", "active"):
        assert os.listdir(os.path.join(base.root, sub)) == [], sub
