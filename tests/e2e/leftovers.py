"""What a cbuild process may leave behind, for tests that end it early: host mounts, processes,
store entries (active snapshots, ingest files, `run --name` files) and pids cgroups."""
import os
import time

from conftest import mountinfo


def processes_matching(marker):
    """Pids of live processes whose command line contains `marker` (zombies have none)."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmd and state != "Z":
            out.append((int(pid), cmd))
    return out


def processes_of(cbuild_pid):
    """Live processes placed in a pids cgroup of the sandboxes of cbuild process `cbuild_pid`."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cgroup") as f:
                if f"/cbuild-{cbuild_pid}-" in f.read():
                    out.append(int(pid))
        except OSError:
            continue
    return out


def cgroups_of(cbuild_pid):
    out = []
    for base in ("/sys/fs/cgroup/pids", "/sys/fs/cgroup"):
        for dirpath, dirnames, _ in os.walk(base):
            out += [os.path.join(dirpath, d) for d in dirnames if d.startswith(f"cbuild-{cbuild_pid}-")]
    return out


def store_leftovers(root):
    """Entries in the store that only a running cbuild may have."""
    out = []
    for sub in ("active", "ingest", "containers"):
        d = os.path.join(root, sub)
        if os.path.isdir(d):
            out += [f"{sub}/{n}" for n in os.listdir(d)]
    return out


def new_mounts(before, root):
    return {m for m in mountinfo() - before if root in m[0] or (m[1] == "overlay" and "cbuild" in m[0])}


def wait_until(cond, timeout=10.0, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(step)
    return cond()


def assert_nothing_left(root, cbuild_pid, marker, mounts_before, store=True):
    """No process (by command-line marker or sandbox cgroup), mount, cgroup or store entry."""
    procs = wait_until(lambda: not processes_matching(marker) and not processes_of(cbuild_pid), timeout=5)
    assert procs, f"processes left: {processes_matching(marker)} {processes_of(cbuild_pid)}"
    assert not new_mounts(mounts_before, root), f"mounts left: {new_mounts(mounts_before, root)}"
    if store:
        assert not store_leftovers(root), f"store entries left: {store_leftovers(root)}"
        assert not cgroups_of(cbuild_pid), f"cgroups left: {cgroups_of(cbuild_pid)}"
