"""COPY/ADD sources: one wildcard expander for hashing and copying (a wildcard that matches nothing is
an error only when nothing of the instruction matches), and --exclude with the .dockerignore rules."""
import os

import pytest


def make_ctx(path, files):
    for name, data in files.items():
        p = path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(data)
    return path


def build_local(cbuild, tmp_path, dockerfile, files, check=True):
    """Builds `dockerfile` (FROM scratch) and writes the result to a directory: (process, dir)."""
    ctx = make_ctx(tmp_path / "ctx", files)
    (ctx / "Dockerfile").write_text(dockerfile)
    out = tmp_path / "out"
    p = cbuild("build", "--progress", "plain", "--output", f"type=local,dest={out}", str(ctx), check=check)
    return p, out


def tree(out):
    """Every path below `out`, relative, directories with a trailing '/'."""
    found = []
    for dirpath, dirnames, filenames in os.walk(out):
        rel = os.path.relpath(dirpath, out)
        for d in dirnames:
            found.append(os.path.normpath(os.path.join(rel, d)) + "/")
        for f in filenames:
            found.append(os.path.normpath(os.path.join(rel, f)))
    return sorted(found)


def test_empty_wildcard_beside_a_match_copies_the_match(cbuild, busybox_tar, tmp_path):
    # Hashed fine and then failed to copy ("no source files match") before one expander served both.
    p, out = build_local(cbuild, tmp_path, "FROM scratch\nCOPY a.txt nomatch* /d/\n", {"a.txt": "a\n"})
    assert tree(out) == ["d/", "d/a.txt"]


def test_wildcard_matching_nothing_anywhere_is_a_located_error(cbuild, busybox_tar, tmp_path):
    p, _ = build_local(cbuild, tmp_path, "FROM scratch\nCOPY a.txt /a\nCOPY nomatch* none?.md /d/\n",
                       {"a.txt": "a\n"}, check=False)
    assert p.returncode == 1
    assert "Dockerfile:3:1" in p.stderr
    assert "no source files were specified" in p.stderr and "`nomatch*`, `none?.md`" in p.stderr
    assert "#2" not in p.stderr, "no step may run when a key cannot be computed"


def test_copy_from_stage_uses_the_same_expander(cbuild, busybox_tar, tmp_path):
    df = ("FROM scratch AS files\nCOPY . /f/\n"
          "FROM scratch\nCOPY --from=files /f/a.txt /f/nomatch* /d/\n")
    p, out = build_local(cbuild, tmp_path, df, {"a.txt": "a\n", "b.md": "b\n"})
    assert tree(out) == ["d/", "d/a.txt"]
    df = "FROM scratch AS files\nCOPY . /f/\nFROM scratch\nCOPY --from=files /f/*.none /d/\n"
    p, _ = build_local(cbuild, tmp_path / "2", df, {"a.txt": "a\n"}, check=False)
    assert p.returncode == 1 and "Dockerfile:4:1" in p.stderr
    assert "COPY --from=files: no source files were specified: nothing matches `/f/*.none`" in p.stderr


def test_excluding_a_directory_excludes_what_is_below_it(cbuild, busybox_tar, tmp_path):
    # Found while writing the golden test: failed with "open /all/dir: No such file or directory".
    files = {"a.txt": "a\n", "notes.md": "n\n", "dir/one": "1\n", "dir/sub/two": "2\n"}
    p, out = build_local(cbuild, tmp_path, "FROM scratch\nCOPY --exclude=*.md --exclude=dir . /all/\n", files)
    assert tree(out) == ["all/", "all/Dockerfile", "all/a.txt"]


@pytest.mark.parametrize("excludes,want", [
    # `**` matches any number of directories, none included (fnmatch needed a '/': kept top-level `two`).
    (["**/two"], ["all/", "all/Dockerfile", "all/dir/", "all/dir/one", "all/dir/sub/", "all/keep.txt", "all/x.txt"]),
    # A leading `!` is an exception (fnmatch took it literally and excluded keep.txt too).
    (["*.txt", "!keep.txt"], ["all/", "all/Dockerfile", "all/dir/", "all/dir/one", "all/dir/sub/", "all/dir/sub/two",
                             "all/keep.txt", "all/two"]),
    # An exception below an excluded directory brings back that file and the directories above it.
    (["dir", "!dir/sub/two"], ["all/", "all/Dockerfile", "all/dir/", "all/dir/sub/", "all/dir/sub/two",
                               "all/keep.txt", "all/two", "all/x.txt"]),
])
def test_exclude_uses_the_dockerignore_rules(cbuild, busybox_tar, tmp_path, excludes, want):
    files = {"x.txt": "x\n", "keep.txt": "k\n", "two": "t\n", "dir/one": "1\n", "dir/sub/two": "2\n"}
    flags = " ".join(f"--exclude={e}" for e in excludes)
    p, out = build_local(cbuild, tmp_path, f"FROM scratch\nCOPY {flags} . /all/\n", files)
    assert tree(out) == want


def test_dockerignore_exception_below_an_ignored_directory_is_copied(cbuild, busybox_tar, tmp_path):
    files = {".dockerignore": "dir\n!dir/sub/two\n", "a.txt": "a\n", "dir/one": "1\n", "dir/sub/two": "2\n"}
    p, out = build_local(cbuild, tmp_path, "FROM scratch\nCOPY . /all/\n", files)
    assert tree(out) == ["all/", "all/.dockerignore", "all/Dockerfile", "all/a.txt", "all/dir/", "all/dir/sub/",
                         "all/dir/sub/two"]


def test_bad_exclude_pattern_is_a_located_error(cbuild, busybox_tar, tmp_path):
    p, _ = build_local(cbuild, tmp_path, "FROM scratch\nCOPY --exclude=[ab . /all/\n", {"a.txt": "a\n"}, check=False)
    assert p.returncode == 1 and "Dockerfile:2:1" in p.stderr and "[ab" in p.stderr
