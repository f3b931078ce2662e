"""RUN --mount=type=cache sharing modes, shown with two stages that run at the same time:
shared — both use one cache at once; locked — the second waits until the first is done;
private — the second gets its own instance while the first one is in use."""

# Each stage announces itself in a shared rendezvous cache and waits (up to 10 s) for the other
# stage, so that the two RUNs are known to be running at the same time.
STEP = ("RUN --mount=type=cache,id=rv-{tag},target=/rv "
        "--mount=type=cache,id=data-{tag},target=/c,sharing={sharing} "
        "touch /rv/{s} /c/{s}; i=0; while [ ! -e /rv/{other} ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; "
        "ls /c | tr '\\n' ' ' > /seen\n")

TIMED = ("RUN --mount=type=cache,id=t-{tag},target=/c,sharing={sharing} "
         "echo \"{s} start $(cut -d' ' -f1 /proc/uptime)\" >> /c/log; sleep 2; "
         "echo \"{s} end $(cut -d' ' -f1 /proc/uptime)\" >> /c/log; touch /seen\n")


def two_stages(step, sharing, tag):
    df = ""
    for s, other in (("a", "b"), ("b", "a")):
        df += f"FROM busybox AS {s}\n" + step.format(tag=tag, sharing=sharing, s=s, other=other)
    df += ("FROM busybox\nCOPY --from=a /seen /seen-a\nCOPY --from=b /seen /seen-b\n"
           f"RUN --mount=type=cache,id=t-{tag},target=/c cat /c/log > /log 2>/dev/null || true\n")
    return df


def build(cb, ctx, df, tag):
    (ctx / "Dockerfile").write_text(df)
    cb("build", "--progress", "plain", "-t", tag, str(ctx))


def test_shared_cache_is_used_at_once(base, tmp_path):
    build(base, tmp_path, two_stages(STEP, "shared", "sh"), "sh")
    out = base("run", "--rm", "sh", "cat", "/seen-a", "/seen-b").stdout
    assert out == "a b a b ", out


def test_private_cache_gives_a_busy_cache_a_second_instance(base, tmp_path):
    build(base, tmp_path, two_stages(STEP, "private", "pv"), "pv")
    out = base("run", "--rm", "pv", "sh", "-c", "cat /seen-a; echo; cat /seen-b").stdout.split("\n")
    assert sorted(out) == ["a ", "b "], out  # each saw only its own file
    # Both instances stay in the store; a later private user reuses a free one (and sees its files).
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\nRUN --mount=type=cache,id=data-pv,target=/c,sharing=private ls /c > /later\n")
    base("build", "-t", "later", str(tmp_path))
    assert base("run", "--rm", "later", "cat", "/later").stdout in ("a\n", "b\n")


def intervals(log):
    t = {}
    for line in log.splitlines():
        s, kind, when = line.split()
        t.setdefault(s, {})[kind] = float(when)
    assert sorted(t) == ["a", "b"], log
    return [(v["start"], v["end"]) for v in t.values()]


def test_locked_cache_steps_do_not_overlap(base, tmp_path):
    build(base, tmp_path, two_stages(TIMED, "locked", "lk"), "lk")
    (x0, x1), (y0, y1) = sorted(intervals(base("run", "--rm", "lk", "cat", "/log").stdout))
    assert x1 <= y0, f"locked steps overlapped: {x0}-{x1} and {y0}-{y1}"


def test_shared_cache_steps_overlap(base, tmp_path):
    build(base, tmp_path, two_stages(TIMED, "shared", "so"), "so")
    (x0, x1), (y0, y1) = sorted(intervals(base("run", "--rm", "so", "cat", "/log").stdout))
    assert y0 < x1, f"shared steps ran one after the other: {x0}-{x1} and {y0}-{y1}"
