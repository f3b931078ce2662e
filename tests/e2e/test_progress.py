"""`cbuild build --progress=auto|plain|tty|json`: what a person or a program reading stderr sees.

tty runs cbuild under a pseudo-terminal and feeds what it writes through a small terminal
emulator (Screen below), so the checks are about the screen a person sees, not the bytes.
"""
import fcntl
import json
import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time

import pytest

from conftest import CBUILD

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fakeregistry"))
import servers  # noqa: E402

# ---------------------------------------------------------------- a minimal terminal emulator


class Screen:
    """Enough of a VT100 for cbuild's tty view: printable text with auto-wrap, CR, LF (scrolling
    into a scrollback), CSI A (up), K (erase line), J (erase below); other CSI and OSC ignored."""

    def __init__(self, cols, rows):
        self.cols, self.rows = cols, rows
        self.lines = [[" "] * cols for _ in range(rows)]
        self.scrollback = []
        self.r = self.c = 0
        self.pending = ""

    def _lf(self):
        self.r += 1
        if self.r == self.rows:
            self.scrollback.append("".join(self.lines.pop(0)).rstrip())
            self.lines.append([" "] * self.cols)
            self.r = self.rows - 1

    def feed(self, text):
        s = self.pending + text
        self.pending = ""
        i = 0
        while i < len(s):
            ch = s[i]
            if ch == "\x1b":
                m = re.match(r"\x1b\[([0-9;?]*)([@-~])", s[i:])
                if not m:
                    if len(s) - i < 16:
                        self.pending = s[i:]  # an escape split across reads
                        return
                    i += 2
                    continue
                arg, op = m.group(1), m.group(2)
                n = int(arg) if arg.isdigit() else 0
                if op == "A":
                    self.r = max(0, self.r - max(n, 1))
                elif op == "K":
                    for k in range(self.c, self.cols):
                        self.lines[self.r][k] = " "
                elif op == "J":
                    for k in range(self.c, self.cols):
                        self.lines[self.r][k] = " "
                    for rr in range(self.r + 1, self.rows):
                        self.lines[rr] = [" "] * self.cols
                i += len(m.group(0))
                continue
            if ch == "\r":
                self.c = 0
            elif ch == "\n":
                self._lf()
            elif ch >= " ":
                if self.c >= self.cols:
                    self.c = 0
                    self._lf()
                self.lines[self.r][self.c] = ch
                self.c += 1
            i += 1

    def visible(self):
        return ["".join(l).rstrip() for l in self.lines]

    def history(self):
        """Scrollback and screen, trailing blank lines dropped."""
        out = self.scrollback + self.visible()
        while out and not out[-1]:
            out.pop()
        return out


def run_in_pty(args, cols=100, rows=40, env=None, on_screen=None, timeout=120):
    """Runs cbuild under a pty of cols x rows; calls on_screen(screen) after every read.
    Returns (exit code, screen, raw bytes)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    e = dict(os.environ)
    e.pop("COLUMNS", None)
    e.pop("LINES", None)
    e["TERM"] = "xterm"
    e.update(env or {})
    p = subprocess.Popen([CBUILD, *args], stdin=slave, stdout=slave, stderr=slave, env=e, close_fds=True)
    os.close(slave)
    screen = Screen(cols, rows)
    screen.proc = p  # for on_screen callbacks that signal it
    raw = b""
    deadline = time.time() + timeout
    decoder = __import__("codecs").getincrementaldecoder("utf-8")("replace")
    try:
        while time.time() < deadline:
            r, _, _ = select.select([master], [], [], 0.05)
            if r:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every writer is gone
                    break
                if not chunk:
                    break
                raw += chunk
                screen.feed(decoder.decode(chunk))
                if on_screen:
                    on_screen(screen)
            elif p.poll() is not None:
                # drain what is left
                continue
        rc = p.wait(timeout=max(1, deadline - time.time()))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
    return rc, screen, raw


# ---------------------------------------------------------------- fixtures


PARALLEL = """\
FROM busybox AS one
RUN echo one-start; sleep 1; echo one-mid; sleep 1; echo x > /one.txt
FROM busybox AS two
RUN echo two-start; sleep 1; echo two-mid; sleep 1; echo x > /two.txt
FROM busybox
COPY --from=one /one.txt /
COPY --from=two /two.txt /
"""


def write(ctx, dockerfile, files=None):
    ctx.mkdir(parents=True, exist_ok=True)
    (ctx / "Dockerfile").write_text(dockerfile)
    for name, content in (files or {}).items():
        (ctx / name).write_text(content)
    return ctx


RUNNING = re.compile(r"#(\d+) \[(one|two) 2/2\] RUN echo \S+-start.*\s(\d+\.\d)s$")


# ---------------------------------------------------------------- tty


def test_tty_shows_parallel_stages_side_by_side_with_timers_and_tails(base, tmp_path):
    ctx = write(tmp_path / "ctx", PARALLEL)
    seen = {"both": None, "timers": set(), "tails": set()}

    def look(screen):
        vis = screen.visible()
        running = {}
        for i, line in enumerate(vis):
            m = RUNNING.search(line)
            if m:
                running[m.group(2)] = i
                seen["timers"].add((m.group(2), m.group(3)))
        if len(running) == 2:
            tails = {l.strip() for l in vis if l.startswith("    ")}
            seen["tails"] |= tails & {"one-start", "two-start", "one-mid", "two-mid"}
            if {"one-mid", "two-mid"} <= tails and seen["both"] is None:
                seen["both"] = list(vis)

    rc, screen, raw = run_in_pty(["--root", base.root, "build", "--progress", "tty", str(ctx)], on_screen=look)
    hist = screen.history()
    assert rc == 0, "\n".join(hist)
    assert seen["both"] is not None, "never saw both stages running with their output:\n" + "\n".join(hist)
    # the tail lines sit under their own step
    both = seen["both"]
    one = next(i for i, l in enumerate(both) if "[one 2/2]" in l)
    two = next(i for i, l in enumerate(both) if "[two 2/2]" in l)
    first, second = ("one", "two") if one < two else ("two", "one")
    lo, hi = min(one, two), max(one, two)
    assert f"{first}-mid" in [l.strip() for l in both[lo + 1:hi]], "\n".join(both)
    assert f"{second}-mid" in [l.strip() for l in both[hi + 1:]], "\n".join(both)
    # timers ran: each stage was seen at two different times, one of them past a second
    for stage in ("one", "two"):
        times = sorted(float(t) for s, t in seen["timers"] if s == stage)
        assert len(times) >= 2 and times[-1] >= 1.0, (stage, times)
    # final summary: header, every step once with its mark, nothing left of the tails
    assert re.match(r"\[\+\] Building \d+\.\ds \(7/7\) FINISHED$", [l for l in hist if l.startswith("[+]")][-1])
    for n in range(1, 8):
        assert len([l for l in hist if l.startswith(f"#{n} ")]) == 1, "\n".join(hist)
    assert re.search(r"DONE \d+\.\ds$", next(l for l in hist if "[one 2/2]" in l))
    assert not any(l.strip() in ("one-mid", "two-mid") for l in hist), "\n".join(hist)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", hist[-1])
    # every line fits the terminal; at most ~10 frames a second
    assert all(len(l) < 100 for l in hist)
    frames = raw.count(b"\x1b[J")
    assert frames <= 10 * 5 + 5, frames

    # a rebuild: every step CACHED
    rc, screen, _ = run_in_pty(["--root", base.root, "build", "--progress", "tty", str(ctx)])
    hist = screen.history()
    assert rc == 0, "\n".join(hist)
    for n in range(1, 8):
        line = next(l for l in hist if l.startswith(f"#{n} "))
        assert line.endswith("CACHED"), "\n".join(hist)


def test_tty_in_a_real_terminal_tmux(base, tmp_path):
    """The same view in tmux, a real terminal emulator, read back with capture-pane."""
    if not shutil.which("tmux"):
        pytest.skip("SKIPPED: `tmux` is not installed (scripts/setup installs it)")
    ctx = write(tmp_path / "ctx", PARALLEL)
    sock = f"cbuild-test-{os.getpid()}"
    done = tmp_path / "exit"
    cmd = f"{CBUILD} --root {base.root} build --progress tty {ctx}; echo $? > {done}; sleep 600"
    tmux = ["tmux", "-L", sock, "-f", "/dev/null"]
    subprocess.run([*tmux, "new-session", "-d", "-x", "100", "-y", "30", cmd], check=True,
                   env=dict(os.environ, TERM="xterm"))
    both = None
    try:
        deadline = time.time() + 120
        while not done.exists() and time.time() < deadline:
            pane = subprocess.run([*tmux, "capture-pane", "-p"], capture_output=True, text=True).stdout
            lines = pane.splitlines()
            running = [l for l in lines if RUNNING.search(l)]
            tails = {l.strip() for l in lines if l.startswith("    ")}
            if len(running) == 2 and {"one-start", "two-start"} <= tails and both is None:
                both = pane
            time.sleep(0.1)
        time.sleep(0.3)
        pane = subprocess.run([*tmux, "capture-pane", "-p", "-S", "-100"], capture_output=True, text=True).stdout
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
    assert done.read_text().strip() == "0", pane
    assert both is not None, pane
    lines = [l for l in pane.splitlines() if l]
    assert re.match(r"\[\+\] Building \d+\.\ds \(7/7\) FINISHED$", lines[0]), pane
    assert [l.split()[0] for l in lines[1:8]] == [f"#{n}" for n in range(1, 8)], pane
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", lines[-1]), pane
    assert "\x1b" not in pane and not any(l.strip() in ("one-start", "two-mid") for l in lines), pane


def test_tty_fits_a_narrow_short_terminal(base, tmp_path):
    long_cmd = "echo " + "x" * 150
    ctx = write(tmp_path / "ctx", f"FROM busybox\nRUN {long_cmd}; " + "; ".join(f"echo line{i}" for i in range(30)) +
                "; sleep 1\nRUN echo done\n")
    widest = {"w": 0, "lines": 0}

    def look(screen):
        vis = screen.visible()
        if not any("FINISHED" in l for l in vis):  # then comes the digest, on stdout
            widest["w"] = max(widest["w"], max(len(l) for l in vis))
            widest["lines"] = max(widest["lines"], len([l for l in vis if l]))

    rc, screen, _ = run_in_pty(["--root", base.root, "build", "--progress", "tty", str(ctx)], cols=50, rows=8,
                               on_screen=look)
    hist = screen.history()
    assert rc == 0, "\n".join(hist)
    assert 40 <= widest["w"] <= 49
    assert widest["lines"] <= 7  # the live region never scrolls the terminal
    assert [l for l in hist if l.startswith("#2 ")][0].endswith(tuple(f"{d}s" for d in "0123456789"))
    # the step's command is cut, the mark stays visible at the right edge
    assert re.search(r"DONE \d+\.\ds$", [l for l in hist if l.startswith("#2 ")][0])


def test_tty_step_output_cannot_move_the_cursor_or_clear_the_screen(base, tmp_path):
    ctx = write(tmp_path / "ctx", "FROM busybox\n"
                "RUN printf 'a\\033[2J\\033[Hb\\n'; printf '10%%\\r50%%\\r100%%\\n'; printf 'c\\tt\\n'; sleep 1.5\n")
    seen = []

    def look(screen):
        vis = screen.visible()
        if any(RE_RUN2.search(l) for l in vis):
            seen.append([l for l in vis if l.startswith("    ")])

    rc, screen, raw = run_in_pty(["--root", base.root, "build", "--progress", "tty", str(ctx)], on_screen=look)
    assert rc == 0, "\n".join(screen.history())
    assert b"\x1b[2J" not in raw and b"\x1b[H" not in raw and b"\t" not in raw
    assert ["    ab", "    100%", "    c       t"] in seen, seen


RE_RUN2 = re.compile(r"^#2 \[2/2\] RUN printf.*\d\.\ds$")


def test_tty_failure_shows_the_step_output_and_the_error(base, tmp_path):
    ctx = write(tmp_path / "ctx", "FROM busybox\nRUN echo fine\nRUN for i in 1 2 3 4 5 6 7 8; do echo out$i; done; exit 5\n")
    rc, screen, _ = run_in_pty(["--root", base.root, "build", "--progress", "tty", str(ctx)])
    hist = screen.history()
    text = "\n".join(hist)
    assert rc == 1, text
    assert re.search(r"\[\+\] Building \d+\.\ds \(3/3\) ERROR$", text, re.M), text
    assert re.search(r"^#3 \[3/3\] RUN for i in .*ERROR \d+\.\ds$", text, re.M), text
    # the report after the summary: every output line of the failing step, then the error
    start = hist.index("------")
    assert hist[start + 1] == " > [3/3] RUN for i in 1 2 3 4 5 6 7 8; do echo out$i; done; exit 5:"
    assert hist[start + 2:start + 10] == [f"out{i}" for i in range(1, 9)]
    assert hist[start + 10] == "------"
    assert hist[start + 11].startswith("Dockerfile:3:1: RUN for i in")
    assert "exit code: 5" in text


def test_auto_is_tty_on_a_terminal_and_plain_elsewhere(base, tmp_path):
    ctx = write(tmp_path / "ctx", "FROM busybox\nRUN echo auto-out\n")
    p = base("build", str(ctx))  # pipes: plain, exactly as --progress plain
    assert "\x1b" not in p.stderr
    assert re.search(r"^#2 \[2/2\] RUN echo auto-out$", p.stderr, re.M)
    assert re.search(r"^#2 (CACHED|DONE \d+\.\ds)$", p.stderr, re.M)
    rc, screen, raw = run_in_pty(["--root", base.root, "build", str(ctx)])
    assert rc == 0
    assert b"\x1b[" in raw and any(l.startswith("[+] Building") for l in screen.history())
    rc, screen, raw = run_in_pty(["--root", base.root, "build", str(ctx)], env={"TERM": "dumb"})
    assert rc == 0 and b"\x1b" not in raw
    assert any(l == "#2 CACHED" for l in screen.history())


# ---------------------------------------------------------------- json


def events_of(stderr):
    out = []
    for line in stderr.splitlines():
        out.append(json.loads(line))  # every line is one JSON object, nothing else
        assert isinstance(out[-1], dict) and "event" in out[-1] and "time" in out[-1], line
    return out


def check_step_order(evs):
    """Each step: started, then cache_miss/log, then exactly one of cached/done/failed/canceled."""
    state = {}
    for e in evs:
        if "step" not in e or e["event"] == "error":
            continue
        n, ev = e["step"], e["event"]
        if ev == "started":
            assert n not in state, e
            state[n] = "running"
        else:
            assert state.get(n) == "running", (e, state.get(n))
            if ev in ("cached", "done", "failed", "canceled"):
                state[n] = ev
    return state


JSON_DF = """\
FROM busybox AS base
RUN echo first-line; echo second-line; printf 'bad\\377byte\\n'
FROM busybox
COPY --from=base /etc/passwd /p
COPY data.txt /data.txt
RUN echo final
"""


def test_json_events_for_a_two_stage_build(base, tmp_path):
    ctx = write(tmp_path / "ctx", JSON_DF, {"data.txt": "one\n"})
    p = base("build", "--progress", "json", str(ctx))
    evs = events_of(p.stderr)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", p.stdout)  # the digest stays on stdout
    state = check_step_order(evs)
    assert state == {1: "cached", 2: "done", 3: "cached", 4: "done", 5: "done", 6: "done"}
    started = {e["step"]: e for e in evs if e["event"] == "started"}
    assert started[2]["stage"] == "base" and started[2]["position"] == "2/2"
    assert started[2]["instruction"].startswith("RUN echo first-line")
    assert started[5] | {"time": None} == {"event": "started", "step": 5, "stage": "stage-1", "position": "3/4",
                                           "label": "stage-1 3/4", "instruction": "COPY data.txt /data.txt",
                                           "time": None}
    logs = [e["line"] for e in evs if e["event"] == "log" and e["step"] == 2]
    assert logs == ["first-line", "second-line", "bad\ufffdbyte"]
    done = next(e for e in evs if e["event"] == "done" and e["step"] == 2)
    assert isinstance(done["seconds"], (int, float)) and done["seconds"] >= 0
    notes = [e["message"] for e in evs if e["event"] == "note"]
    assert any(n.startswith("writing image sha256:") for n in notes)
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$", evs[0]["time"])

    # rebuild after changing a COPY source: the earlier steps are cached, the miss is explained
    (ctx / "data.txt").write_text("two\n")
    p = base("build", "--progress", "json", str(ctx))
    evs = events_of(p.stderr)
    state = check_step_order(evs)
    assert state == {1: "cached", 2: "cached", 3: "cached", 4: "cached", 5: "done", 6: "done"}
    miss = [e for e in evs if e["event"] == "cache_miss"]
    assert miss[0]["step"] == 5 and "data.txt" in miss[0]["reason"], miss
    assert not [e for e in evs if e["event"] == "log" and e["step"] == 2]


def test_json_failing_run_ends_with_an_error_event(base, tmp_path):
    ctx = write(tmp_path / "ctx", "FROM busybox\nRUN echo ok\nRUN echo about-to-fail; exit 7\nRUN echo never\n")
    p = base("build", "--progress", "json", str(ctx), check=False)
    assert p.returncode == 1
    assert p.stdout == ""
    evs = events_of(p.stderr)
    state = check_step_order(evs)
    assert state == {1: "cached", 2: "done", 3: "failed"}
    assert [e["line"] for e in evs if e["event"] == "log" and e["step"] == 3] == ["about-to-fail"]
    failed = next(e for e in evs if e["event"] == "failed")
    assert "exit code: 7" in failed["message"]
    err = evs[-1]
    assert err["event"] == "error"
    assert err["location"] == "Dockerfile:3:1"
    assert (err["file"], err["line"], err["column"], err["step"], err["exit_code"]) == ("Dockerfile", 3, 1, 3, 7)
    assert "exit code: 7" in err["message"]


def test_json_errors_before_the_build_are_events_too(base, tmp_path):
    ctx = write(tmp_path / "ctx", "FROM busybox\nFROB x\n")
    p = base("build", "--progress", "json", str(ctx), check=False)
    assert p.returncode == 1
    evs = events_of(p.stderr)
    assert evs[-1]["event"] == "error" and evs[-1]["location"].startswith("Dockerfile:2")
    p = base("build", "--progress", "json", "-f", str(tmp_path / "missing"), str(ctx), check=False)
    assert p.returncode == 1
    evs = events_of(p.stderr)
    assert evs == [evs[0]] and evs[0]["event"] == "error" and "missing" in evs[0]["message"]


def test_plain_is_unchanged(base, tmp_path):
    ctx = write(tmp_path / "ctx", "FROM busybox\nRUN echo plain-out; exit 4\n")
    p = base("build", "--progress", "plain", str(ctx), check=False)
    assert p.returncode == 1
    lines = p.stderr.splitlines()
    assert lines[:4] == ["#1 [1/2] FROM busybox", "#1 CACHED", "#2 [2/2] RUN echo plain-out; exit 4", "#2 plain-out"]
    assert lines[4].startswith("#2 ERROR: RUN echo plain-out; exit 4: process")
    assert lines[5].startswith("Dockerfile:2:1: RUN echo plain-out")
    assert lines[6:] == ["   2 | RUN echo plain-out; exit 4", "     | ^"]


def test_json_pull_of_a_base_image_is_events_too(base, tmp_path):
    if not servers.have("docker-registry"):
        pytest.skip("SKIPPED: `docker-registry` is not installed (scripts/setup installs it)")
    reg = servers.DockerRegistry(str(tmp_path / "registry"))
    root = tempfile.mkdtemp(prefix="cbuild-root2-", dir="/var/tmp")
    try:
        env = {"DOCKER_CONFIG": str(tmp_path), "CBUILD_REGISTRIES_CONFIG": str(tmp_path / "none.json")}
        name = f"{reg.host}/library/busybox:progress"
        base("tag", "busybox:latest", name)
        base("push", "-q", name, env=env)
        ctx = write(tmp_path / "ctx", f"FROM {name}\nRUN echo pulled\n")
        p = subprocess.run([CBUILD, "--root", root, "build", "--progress", "json", str(ctx)], capture_output=True,
                           text=True, timeout=300, env=dict(os.environ, **env))
        assert p.returncode == 0, p.stderr
        evs = events_of(p.stderr)
        pulls = [e for e in evs if e["event"] == "pull"]
        assert pulls[0]["message"] == f"Pulling {name}"
        assert any(e.get("status") == "Pull complete" and e["blob"].startswith("sha256:") for e in pulls)
        assert evs.index(pulls[-1]) < evs.index(next(e for e in evs if e["event"] == "started"))
        assert check_step_order(evs) == {1: "cached", 2: "done"}
    finally:
        reg.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_interrupted_step_is_canceled_not_failed(base, tmp_path):
    ctx = write(tmp_path / "ctx", "FROM busybox\nRUN echo started; sleep 30\n")
    # json: the step ends with "canceled", then the error event; exit 130
    p = subprocess.Popen([CBUILD, "--root", base.root, "build", "--progress", "json", str(ctx)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in p.stderr:
        lines.append(line)
        if '"line":"started"' in line:
            p.send_signal(signal.SIGINT)
            break
    rest = p.communicate(timeout=60)[1]
    evs = events_of("".join(lines) + rest)
    assert p.returncode == 130
    assert check_step_order(evs) == {1: "cached", 2: "canceled"}
    assert evs[-1]["event"] == "error" and evs[-1]["message"] == "interrupted by SIGINT"

    # tty: the step is marked CANCELED, with no failure report
    sent = []

    def look(screen):
        if not sent and any(l.strip() == "started" for l in screen.visible()):
            sent.append(True)
            screen.proc.send_signal(signal.SIGINT)

    rc, screen, _ = run_in_pty(["--root", base.root, "build", "--progress", "tty", str(ctx)], on_screen=look)
    hist = screen.history()
    assert rc == 130 and sent, "\n".join(hist)
    assert re.search(r"^#2 \[2/2\] RUN echo started; sleep 30 +CANCELED$", "\n".join(hist), re.M), "\n".join(hist)
    assert "------" not in hist
    assert hist[-1] == "cbuild: interrupted by SIGINT"


def test_quiet_prints_the_digest_only_and_the_error_on_failure(base, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN echo hi > /hi\n")
    p = base("build", "-q", "-t", "quiet", str(tmp_path))
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", p.stdout), p.stdout
    assert p.stderr == ""
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN exit 3\n")
    p = base("build", "--quiet", str(tmp_path), check=False)
    assert p.returncode == 1 and p.stdout == ""
    assert 'Dockerfile:2:1: RUN exit 3: process "/bin/sh -c exit 3" did not complete successfully: exit code: 3' in p.stderr
    assert "#1" not in p.stderr
