"""--log-level: debug shows cbuild's diagnostics, error hides warnings, warn (the default) shows them."""

DOCKERFILE = "FROM busybox\nRUN true\n"


def build(cb, ctx, *global_args):
    return cb(*global_args, "build", "--progress", "plain", "--build-arg", "UNUSED=1", "-t", "lv", str(ctx))


def test_log_level_debug_prints_debug_lines(base, tmp_path):
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    p = build(base, tmp_path, "--log-level", "debug")
    debug = [l for l in p.stderr.splitlines() if l.startswith("cbuild: debug: ")]
    assert any(l.startswith(f"cbuild: debug: store `{base.root}`") for l in debug), p.stderr
    assert any("plan: #2 RUN true: key sha256:" in l for l in debug), p.stderr
    assert "WARNING: one or more build-args [UNUSED] were not consumed" in p.stderr


def test_log_level_default_warn_shows_warnings_and_no_debug(base, tmp_path):
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    p = build(base, tmp_path)
    assert "WARNING: one or more build-args [UNUSED] were not consumed" in p.stderr
    assert "cbuild: debug:" not in p.stderr


def test_log_level_error_hides_warnings(base, tmp_path):
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    p = build(base, tmp_path, "--log-level=error")
    assert "WARNING" not in p.stderr and "cbuild: debug:" not in p.stderr
    assert p.stdout.strip().startswith("sha256:")


def test_log_level_rejects_unknown_levels(cbuild):
    p = cbuild("--log-level", "chatty", "images", check=False)
    assert p.returncode == 2
    assert "--log-level" in p.stderr and "chatty" in p.stderr
