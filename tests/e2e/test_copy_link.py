"""COPY --link / ADD --link: the layer is written onto an empty snapshot, so it and its cache key
do not depend on the steps before it (BuildKit's MergeOp); it is stacked on top of them."""
import json


def layers(cb, name):
    return [l["diff_id"] for l in json.loads(cb("inspect", name).stdout)[0]["Layers"]]


def build(cb, ctx, dockerfile, *args, check=True):
    (ctx / "Dockerfile").write_text(dockerfile)
    return cb("build", "--progress", "plain", *args, str(ctx), check=check)


def test_linked_layer_is_reused_when_an_earlier_step_changes(base, tmp_path):
    (tmp_path / "app.txt").write_text("app\n")
    df = ("FROM busybox\n"
          "RUN echo {v} > /v\n"
          "COPY --link app.txt /app/\n"
          "ADD --link --chown=7:8 app.txt /owned.txt\n"
          "RUN cat /app/app.txt /v > /both\n")
    build(base, tmp_path, df.format(v="one"), "-t", "linked")
    first = layers(base, "linked")
    p = build(base, tmp_path, df.format(v="two"), "-t", "linked")
    assert "#2 CACHED" not in p.stderr
    assert "#3 CACHED" in p.stderr and "#4 CACHED" in p.stderr, p.stderr  # only restacked
    assert "#5 CACHED" not in p.stderr                                      # sees the new /v
    assert "#5 cache miss: step #2 before it was rebuilt" in p.stderr, p.stderr
    second = layers(base, "linked")
    assert first[0] == second[0] and first[1] != second[1]  # base same, RUN layer new
    assert first[2:4] == second[2:4]                         # the linked layers: same diff_ids
    out = base("run", "--rm", "linked", "sh", "-c", "cat /both; stat -c '%u:%g' /owned.txt").stdout
    assert out == "app\ntwo\n7:8\n"


def test_plain_copy_is_rebuilt_when_an_earlier_step_changes(base, tmp_path):
    (tmp_path / "app.txt").write_text("app\n")
    df = "FROM busybox\nRUN echo {v} > /v\nCOPY app.txt /app/\nCOPY --link --chmod=0600 app.txt /m/\n"
    build(base, tmp_path, df.format(v="one"))
    p = build(base, tmp_path, df.format(v="two"))
    # Without --link the layer depends on the parent; with --chmod BuildKit does not link either.
    assert "#3 CACHED" not in p.stderr and "#4 CACHED" not in p.stderr


def test_link_does_not_read_the_layers_below(base, tmp_path):
    (tmp_path / "f").write_text("f\n")
    df = ("FROM busybox\n"
          "RUN mkdir /real && ln -s /real /lnk && mkdir -m 1777 /shared\n"
          "COPY --link f /lnk/\n"
          "COPY --link f /shared/f\n")
    build(base, tmp_path, df, "-t", "nofollow")
    out = base("run", "--rm", "nofollow", "sh", "-c",
               "test -L /lnk && echo link || echo dir; ls /real | wc -l; cat /lnk/f; stat -c '%a' /shared").stdout
    # The destination path is not resolved through the lower layer's symlink: /lnk becomes a
    # directory; a parent directory gets default permissions (BuildKit's documented caveats).
    assert out == "dir\n0\nf\n755\n"


def test_link_chown_by_name_is_rejected(base, tmp_path):
    (tmp_path / "f").write_text("f\n")
    p = build(base, tmp_path, "FROM busybox\nCOPY --link --chown=daemon f /f\n", check=False)
    assert p.returncode == 1 and "Dockerfile:2:1" in p.stderr and "numeric ids" in p.stderr, p.stderr
    ok = build(base, tmp_path, "FROM busybox\nCOPY --link --chown=root:1 f /f\n", "-t", "rootname")
    assert ok.returncode == 0
    assert base("run", "--rm", "rootname", "stat", "-c", "%u:%g", "/f").stdout == "0:1\n"
