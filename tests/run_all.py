#!/usr/bin/env python3
"""Runs cbuild's whole suite and prints one summary line: "N passed, N failed".

Parts: every doctest executable named *_test under BUILD/tests (each test case counts once),
the end-to-end tests under tests/e2e (pytest, each test counts once), and the parser fuzzer
for FUZZ_SECONDS (counts once). Skipped tests are listed but counted in neither number.
"""
import argparse
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_doctest(exe):
    print(f"== {os.path.relpath(exe, ROOT)}", flush=True)
    t0 = time.time()
    p = subprocess.run([exe, "--no-colors=true", "--no-intro=true"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, errors="replace")
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


def run_pytest(build):
    print("== tests/e2e (pytest)", flush=True)
    xml = os.path.join(ROOT, build, "e2e-results.xml")
    env = dict(os.environ, CBUILD_BIN=os.path.join(ROOT, build, "cli", "cbuild"))
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
    args = ap.parse_args()
    tests_dir = os.path.join(ROOT, args.build, "tests")
    exes = []
    for d, _, files in os.walk(tests_dir):
        for f in files:
            path = os.path.join(d, f)
            if f.endswith("_test") and os.access(path, os.X_OK) and os.path.isfile(path):
                exes.append(path)
    totals = [0, 0, 0]
    t0 = time.time()
    parts = [lambda e=e: run_doctest(e) for e in sorted(exes)] + [lambda: run_pytest(args.build)]
    if not args.no_fuzz:
        parts.append(run_fuzz)
    for part in parts:
        p, f, s = part()
        totals[0] += p
        totals[1] += f
        totals[2] += s
    print(f"(suite took {time.time() - t0:.0f}s; {totals[2]} skipped)")
    print(f"{totals[0]} passed, {totals[1]} failed")
    return 0 if totals[1] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
