#!/usr/bin/env python3
"""Runs cbuild's whole suite and prints one summary line: "N passed, N failed".

Parts: every doctest executable named *_test under BUILD/tests (each test case counts once),
the end-to-end tests under tests/e2e (pytest, each test counts once), and the parser fuzzer
for FUZZ_SECONDS (counts once). Skipped tests are listed but counted in neither number.

--sanitize (scripts/test --sanitize, with --build build-asan): every process of the build under
test writes its AddressSanitizer / LeakSanitizer / UBSan reports to BUILD/sanitizer-logs/ (set
through ASAN_OPTIONS, UBSAN_OPTIONS, LSAN_OPTIONS, with the suppressions in tests/sanitizer/).
After each part, each report file is printed and counted as one more failure of that part: a
report from a cbuild run whose test expected a non-zero exit would otherwise go unnoticed, and
UBSan does not change the exit status. The stack limit of the processes under test is raised to
SANITIZED_STACK_MIB: AddressSanitizer's redzones make each frame several times larger, and the
parser's 1000-deep nesting limit (tests/parser/parser_robustness_test.cc) needs 1-2 MiB of
stack in the normal build but 8-16 MiB in build-asan.
"""
import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SANITIZER_DIR = os.path.join(ROOT, "tests", "sanitizer")
SANITIZED_STACK_MIB = 32


def raise_stack_limit():
    """Raises the soft RLIMIT_STACK of this process (and so of its children) to SANITIZED_STACK_MIB."""
    soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
    want = SANITIZED_STACK_MIB << 20
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_STACK, (want, hard))


def sanitizer_env(log_dir):
    """The environment for running a sanitized build: reports go to files in log_dir."""
    def opts(name, own):
        extra = os.environ.get(name, "")  # the caller's own options come last and win
        return ":".join(o for o in own + ([extra] if extra else []) if o)
    asan = [f"log_path={log_dir}/asan", "detect_leaks=1", "check_initialization_order=1"]
    ubsan = [f"log_path={log_dir}/ubsan", "print_stacktrace=1",
             f"suppressions={SANITIZER_DIR}/ubsan.supp"]
    lsan = [f"suppressions={SANITIZER_DIR}/lsan.supp", "print_suppressions=0"]
    return dict(os.environ, ASAN_OPTIONS=opts("ASAN_OPTIONS", asan),
                UBSAN_OPTIONS=opts("UBSAN_OPTIONS", ubsan), LSAN_OPTIONS=opts("LSAN_OPTIONS", lsan))


def sanitizer_reports(log_dir, seen):
    """Prints the report files that appeared in log_dir since the last call; returns their number."""
    if not log_dir or not os.path.isdir(log_dir):
        return 0
    new = sorted(f for f in os.listdir(log_dir) if f not in seen)
    for f in new:
        seen.add(f)
        with open(os.path.join(log_dir, f), errors="replace") as fh:
            text = fh.read()
        print(f"   sanitizer report {os.path.relpath(os.path.join(log_dir, f), ROOT)}:")
        print("   " + text[-6000:].replace("\n", "\n   "))
    return len(new)


def run_doctest(exe, env=None):
    print(f"== {os.path.relpath(exe, ROOT)}", flush=True)
    t0 = time.time()
    p = subprocess.run([exe, "--no-colors=true", "--no-intro=true"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, errors="replace", env=env)
    out = p.stdout
    m = re.search(r"test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed\s*\|\s*(\d+) skipped", out)
    skipped_msgs = [l for l in out.splitlines() if "SKIPPED" in l]
    if m is None:
        print(out[-4000:])
        print(f"   could not read doctest's summary (exit {p.returncode}): counted as 1 failure")
        return 0, 1, 0
    passed, failed, skipped = int(m.group(2)), int(m.group(3)), int(m.group(4))
    if p.returncode != 0 and failed == 0:
        failed = 1  # crashed after the summary, or a sanitizer report
    if failed:
        print(out[-8000:])
    for s in sorted(set(skipped_msgs))[:20]:
        print("   " + s.strip())
    print(f"   {passed} passed, {failed} failed, {skipped} skipped ({time.time() - t0:.1f}s)", flush=True)
    return passed, failed, skipped


def run_pytest(build, env=None):
    print("== tests/e2e (pytest)", flush=True)
    xml = os.path.join(ROOT, build, "e2e-results.xml")
    env = dict(env or os.environ, CBUILD_BIN=os.path.join(ROOT, build, "cli", "cbuild"))
    p = subprocess.run(["/usr/bin/python3", "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                        f"--junitxml={xml}", os.path.join(ROOT, "tests", "e2e")], env=env, cwd=ROOT)
    try:
        suite = ET.parse(xml).getroot()
        if suite.tag == "testsuites":
            suite = suite[0]
        total = int(suite.get("tests", 0))
        failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped = int(suite.get("skipped", 0))
    except (OSError, ET.ParseError):
        return 0, 1, 0
    if p.returncode not in (0, 1) and failed == 0:
        failed = 1
    return total - failed - skipped, failed, skipped


def run_fuzz():
    seconds = os.environ.get("FUZZ_SECONDS", "60")
    script = os.path.join(ROOT, "fuzz", "run")
    if seconds == "0" or not os.path.exists(script):
        return 0, 0, 1
    print(f"== fuzz/run {seconds}", flush=True)
    p = subprocess.run([script, seconds], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       errors="replace")
    print("\n".join(p.stdout.splitlines()[-5:]))
    return (1, 0, 0) if p.returncode == 0 else (0, 1, 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--no-fuzz", action="store_true")
    ap.add_argument("--sanitize", action="store_true",
                    help="the build is sanitized: collect and count its sanitizer reports")
    args = ap.parse_args()
    log_dir, env, seen = None, None, set()
    if args.sanitize:
        log_dir = os.path.join(ROOT, args.build, "sanitizer-logs")
        shutil.rmtree(log_dir, ignore_errors=True)
        os.makedirs(log_dir)
        env = sanitizer_env(log_dir)
        raise_stack_limit()
    tests_dir = os.path.join(ROOT, args.build, "tests")
    exes = []
    for d, _, files in os.walk(tests_dir):
        for f in files:
            path = os.path.join(d, f)
            if f.endswith("_test") and os.access(path, os.X_OK) and os.path.isfile(path):
                exes.append(path)
    totals = [0, 0, 0]
    t0 = time.time()
    parts = [lambda e=e: run_doctest(e, env) for e in sorted(exes)] + [lambda: run_pytest(args.build, env)]
    if not args.no_fuzz:
        parts.append(run_fuzz)  # its own clang build and sanitizer settings
    for part in parts:
        p, f, s = part()
        reports = sanitizer_reports(log_dir, seen)
        if reports:
            print(f"   {reports} sanitizer report(s): counted as failures", flush=True)
        f += reports
        totals[0] += p
        totals[1] += f
        totals[2] += s
    print(f"(suite took {time.time() - t0:.0f}s; {totals[2]} skipped)")
    print(f"{totals[0]} passed, {totals[1]} failed")
    return 0 if totals[1] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
