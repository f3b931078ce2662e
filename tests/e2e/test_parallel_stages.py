"""Parallel stages never hang (issue 22): six small stages that each COPY from the context with
--exclude and wildcard sources, and a final stage that COPY --from's each. Such a build was
reported to hang in about one run of five (a step held a lock across a TBB wait while TBB ran
another stage's task on the same thread). The interleaving is timing-dependent: the scheduler's
unit test (tests/executor/scheduler_test.cc) forces it with a fake runner; this one drives the
real binary a number of times, each run bounded, as a guard on the whole path."""
import subprocess

import pytest

STAGES = 6
RUNS = 10
DOCKERFILE = "".join(
    f"FROM busybox AS s{i}\nCOPY --exclude=*.md src{i}/*.txt src{i}/sub /out/\n" for i in range(STAGES)
) + "FROM busybox\n" + "".join(f"COPY --from=s{i} /out/ /s{i}/\n" for i in range(STAGES))


def make_context(ctx):
    for i in range(STAGES):
        d = ctx / f"src{i}"
        (d / "sub").mkdir(parents=True)
        for k in range(40):
            (d / f"f{k:02d}.txt").write_text(f"stage {i} file {k}\n")
        (d / "notes.md").write_text("not matched by *.txt\n")
        (d / "sub" / "notes.md").write_text("excluded\n")
        (d / "sub" / "deep.txt").write_text(f"deep {i}\n")
    (ctx / "Dockerfile").write_text(DOCKERFILE)


def test_many_builds_of_parallel_copy_stages_never_hang(base, tmp_path):
    make_context(tmp_path)
    for run in range(RUNS):
        args = ["build", "--progress", "plain", "-t", "par", str(tmp_path)]
        if run % 2 == 0:
            args.insert(1, "--no-cache")  # every COPY runs; odd runs take every step from the cache
        try:
            base(*args, timeout=120)
        except subprocess.TimeoutExpired:
            pytest.fail(f"build {run + 1} of {RUNS} hung (no exit in 120 s)")
    listing = base("run", "--rm", "par", "sh", "-c",
                   "for i in 0 1 2 3 4 5; do ls /s$i | wc -l; done; cat /s3/f07.txt /s5/deep.txt").stdout
    # 40 .txt files + deep.txt (the sub directory's content) per stage; sub/notes.md excluded.
    assert listing == "41\n" * STAGES + "stage 3 file 7\ndeep 5\n", listing
