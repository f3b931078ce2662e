"""A COPY whose cache missed because some context files changed links the unchanged files from
its previous build's layer instead of copying them again (docs/cache.md, "Rebuilding a COPY").
Whatever happens, the image must be exactly what a cold build of the same context gives: the
same digest, the same files, modes and times."""
import os
import shutil

from conftest import Cbuild

LINKED = "linked from the previous build"


def build(cb, ctx, dockerfile, tag="img"):
    (ctx / "Dockerfile").write_text(dockerfile)
    p = cb("build", "--progress", "plain", "-t", tag, str(ctx))
    return p.stdout.strip(), p.stderr


def cold_digest(busybox_tar, ctx, tmp_path, dockerfile):
    """The digest a fresh root gives for the context as it is now."""
    other = Cbuild(str(tmp_path / "cold-root"))
    try:
        other("import", busybox_tar, "busybox:latest")
        return build(other, ctx, dockerfile)[0]
    finally:
        shutil.rmtree(other.root, ignore_errors=True)


def make_tree(ctx, n=50):
    for i in range(n):
        d = ctx / "src" / f"d{i % 5}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:03d}.txt").write_text(f"file {i}\n" * (i + 1))


def listing(cb, tag, path="/app"):
    """Every file below `path` in the image: mode, mtime, size, content checksum."""
    return cb("run", "--rm", tag, "sh", "-c",
              f"find {path} -type f | sort | while read f; do stat -c '%n %a %Y %s %u:%g' \"$f\"; "
              "md5sum \"$f\"; done").stdout


def test_one_changed_file_links_the_rest_and_matches_a_cold_build(base, busybox_tar, tmp_path):
    ctx = tmp_path / "ctx"
    make_tree(ctx)
    df = "FROM busybox\nCOPY src /app/src\nRUN ls -R /app | wc -l > /count\n"
    first, _ = build(base, ctx, df)
    (ctx / "src" / "d3" / "f013.txt").write_text("changed\n")
    digest, err = build(base, ctx, df)
    assert "#2 cache miss: file `src/d3/f013.txt` changed" in err, err
    assert f"#2 49 unchanged files {LINKED}, not copied" in err, err
    assert digest != first
    assert digest == cold_digest(busybox_tar, ctx, tmp_path, df)
    out = base("run", "--rm", "img", "cat", "/app/src/d3/f013.txt", "/app/src/d4/f014.txt").stdout
    assert out == "changed\n" + "file 14\n" * 15
    # A third build after another change links from the second one.
    (ctx / "src" / "d0" / "f000.txt").write_text("again\n")
    digest, err = build(base, ctx, df)
    assert f"#2 49 unchanged files {LINKED}" in err, err
    assert digest == cold_digest(busybox_tar, ctx, tmp_path, df)


def test_linked_files_keep_what_a_copy_would_write(base, busybox_tar, tmp_path):
    """A file whose content is the same but whose mtime or mode changed is copied, not linked:
    the image shows the new mtime and mode exactly as a cold build does."""
    ctx = tmp_path / "ctx"
    make_tree(ctx, 10)
    df = "FROM busybox\nCOPY --chown=5:6 src /app/src\n"
    build(base, ctx, df)
    os.utime(ctx / "src" / "d1" / "f001.txt", (1000000, 1000000))   # same content, new mtime
    os.chmod(ctx / "src" / "d2" / "f002.txt", 0o751)                  # same content, new mode
    (ctx / "src" / "d3" / "f003.txt").write_text("new\n")
    digest, err = build(base, ctx, df)
    assert f"#2 7 unchanged files {LINKED}" in err, err  # 10 files: 1 changed, 1 new mode, 1 new mtime
    mine = listing(base, "img")
    assert "/app/src/d1/f001.txt 644 1000000 " in mine
    assert "/app/src/d2/f002.txt 751 " in mine
    assert " 5:6\n" in mine and " 0:0\n" not in mine
    other = Cbuild(str(tmp_path / "cold-root"))
    other("import", busybox_tar, "busybox:latest")
    assert build(other, ctx, df)[0] == digest
    assert listing(other, "img") == mine
    shutil.rmtree(other.root, ignore_errors=True)


def test_a_removed_file_turns_reuse_off(base, busybox_tar, tmp_path):
    ctx = tmp_path / "ctx"
    make_tree(ctx, 10)
    df = "FROM busybox\nCOPY src /app/src\n"
    build(base, ctx, df)
    (ctx / "src" / "d4" / "f004.txt").unlink()
    (ctx / "src" / "d1" / "f001.txt").write_text("changed\n")
    digest, err = build(base, ctx, df)
    assert LINKED not in err, err
    assert "f004" not in base("run", "--rm", "img", "ls", "-R", "/app").stdout
    assert digest == cold_digest(busybox_tar, ctx, tmp_path, df)


def test_added_files_and_overlapping_sources(base, busybox_tar, tmp_path):
    """Two source directories write the same target: the later one wins, with or without reuse."""
    ctx = tmp_path / "ctx"
    for d in ("a", "b"):
        (ctx / d).mkdir(parents=True)
        (ctx / d / "same.txt").write_text(f"from {d}\n")
        (ctx / d / f"only-{d}.txt").write_text(f"only {d}\n")
    df = "FROM busybox\nCOPY a b /out/\n"
    build(base, ctx, df)
    (ctx / "a" / "only-a.txt").write_text("changed a\n")
    (ctx / "a" / "new.txt").write_text("new\n")
    digest, err = build(base, ctx, df)
    assert LINKED in err, err
    out = base("run", "--rm", "img", "sh", "-c", "cat /out/same.txt /out/only-a.txt /out/new.txt").stdout
    assert out == "from b\nchanged a\nnew\n"
    assert digest == cold_digest(busybox_tar, ctx, tmp_path, df)
    # Now the later source's copy of the shared name changes: the earlier (unchanged) one must
    # not be linked over it.
    (ctx / "b" / "same.txt").write_text("from b, changed\n")
    digest, err = build(base, ctx, df)
    assert base("run", "--rm", "img", "cat", "/out/same.txt").stdout == "from b, changed\n"
    assert digest == cold_digest(busybox_tar, ctx, tmp_path, df)


def test_destination_through_a_symlink_below_falls_back_to_copying(base, busybox_tar, tmp_path):
    """/app is a symlink in an earlier layer: the files land in /opt/real; linking by the
    literal path cannot work, so the step is copied as usual and the result is the same."""
    ctx = tmp_path / "ctx"
    make_tree(ctx, 10)
    df = "FROM busybox\nRUN mkdir -p /opt/real && ln -s /opt/real /app\nCOPY src /app/src\n"
    build(base, ctx, df)
    (ctx / "src" / "d2" / "f002.txt").write_text("changed\n")
    digest, err = build(base, ctx, df)
    assert LINKED not in err, err
    out = base("run", "--rm", "img", "sh", "-c", "cat /opt/real/src/d2/f002.txt; ls /opt/real/src/d3").stdout
    assert out == "changed\nf003.txt\nf008.txt\n"
    assert digest == cold_digest(busybox_tar, ctx, tmp_path, df)


def test_no_cache_and_other_instructions_copy_everything(base, tmp_path):
    ctx = tmp_path / "ctx"
    make_tree(ctx, 10)
    df = "FROM busybox\nCOPY src /app/src\n"
    build(base, ctx, df)
    (ctx / "src" / "d0" / "f000.txt").write_text("x\n")
    p = base("build", "--progress", "plain", "--no-cache", "-t", "img", str(ctx))
    assert LINKED not in p.stderr
    (ctx / "src" / "d0" / "f000.txt").write_text("y\n")
    _, err = build(base, ctx, "FROM busybox\nCOPY src /app/src2\n")  # another instruction text
    assert LINKED not in err


def test_system_df_counts_a_shared_file_once(base, tmp_path):
    ctx = tmp_path / "ctx"
    (ctx / "src").mkdir(parents=True)
    (ctx / "src" / "big.bin").write_bytes(os.urandom(8 << 20))
    (ctx / "src" / "small.txt").write_text("one\n")
    df = "FROM busybox\nCOPY src /app/src\n"

    def layers_size():
        import json
        rows = [json.loads(l) for l in base("system", "df", "--format", "json").stdout.splitlines()]
        return next(r["Size"] for r in rows if r["Type"] == "Layers")

    before = layers_size()
    build(base, ctx, df)
    one = layers_size() - before
    (ctx / "src" / "small.txt").write_text("two\n")
    _, err = build(base, ctx, df)
    assert "#2 1 unchanged file linked from the previous build, not copied" in err, err
    two = layers_size() - before
    assert one >= 8 << 20
    assert two < one + (1 << 20), (one, two)  # the 8 MiB file is not counted twice


def test_many_files_are_linked_on_all_cores(base, busybox_tar, tmp_path):
    """Over 4096 pending files the links are made by several threads: same result."""
    ctx = tmp_path / "ctx"
    make_tree(ctx, 6000)
    df = "FROM busybox\nCOPY src /app/src\n"
    build(base, ctx, df)
    (ctx / "src" / "d2" / "f4242.txt").write_text("changed\n")
    digest, err = build(base, ctx, df)
    assert f"#2 5999 unchanged files {LINKED}" in err, err
    assert digest == cold_digest(busybox_tar, ctx, tmp_path, df)
    out = base("run", "--rm", "img", "sh", "-c", "find /app -type f | wc -l; cat /app/src/d2/f4242.txt").stdout
    assert out.split() == ["6000", "changed"]
