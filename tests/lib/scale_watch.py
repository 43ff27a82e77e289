#!/usr/bin/env python3
# scale_watch.py - watches many QEMUs of one libvirt host from OUTSIDE the
# guard, in one process (a shell poller per domain costs a few hundred forks
# a second each, which on 2 cores would slow the guard being measured).
#
#   scale_watch.py hang OUTDIR URI TIMEOUT DOM=PID...
#       Per domain, polled every 50 ms: the storage-stall hang of
#       mg_e2e_hang_watch's "drain" kind (tests/lib/e2e.sh) - QEMU's main
#       thread in futex(2) (syscall 202) and live_migration in ppoll/poll
#       (271, 7), neither running (schedstat unchanged) for CONFIRM s
#       (env MG_HANG_CONFIRM, default 1); then libvirt's query-status
#       (virsh qemu-monitor-command) must not answer within 1.5 s.  Writes
#       OUTDIR/DOM.hang: start= (epoch s of the first sample of the
#       confirmed wait), tid= (live_migration), pid=, threads= (every tid of
#       the QEMU at that moment).  Exit 0 when every domain hung, 1 after
#       TIMEOUT s otherwise (OUTDIR/DOM.seen says what was last seen).
#   scale_watch.py recovered OUTDIR URI RUN_DIR TIMEOUT DOM...
#       Per domain, polled every 100 ms: the QEMU of RUN_DIR/qemu/DOM.pid
#       (the same or a restarted one) alive, its main thread out of futex(2)
#       in two samples 50 ms apart, then `virsh domstate` running and
#       libvirt's query-status answering "running": true.  Writes
#       OUTDIR/DOM.recovered: at= (the first of the two samples), pid=.
#       Exit 0 when every domain recovered, 1 after TIMEOUT s.
import os
import subprocess
import sys
import time


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def syscall_run(pid, tid):
    sc = read("/proc/%d/task/%d/syscall" % (pid, tid))
    run = read("/proc/%d/task/%d/schedstat" % (pid, tid))
    if not sc or not run:
        return None
    return sc.split()[0], run.split()[0]


def tid_named(pid, name):
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return None
    for t in tids:
        if (read("/proc/%d/task/%s/comm" % (pid, t)) or "").strip() == name:
            return int(t)
    return None


def write_kv(path, kv):
    with open(path + ".tmp", "w") as f:
        for k, v in kv.items():
            f.write("%s=%s\n" % (k, v))
    os.rename(path + ".tmp", path)


def virsh(uri, *args, timeout):
    try:
        r = subprocess.run(["virsh", "-q", "-c", uri] + list(args), capture_output=True,
                           text=True, timeout=timeout)
        return r.returncode, r.stdout
    except subprocess.TimeoutExpired:
        return 124, ""


def hang(outdir, uri, timeout, pairs):
    confirm = float(os.environ.get("MG_HANG_CONFIRM", "1"))
    st = {}
    for p in pairs:
        dom, pid = p.split("=", 1)
        st[dom] = {"pid": int(pid), "lm": None, "since": None, "first": None, "seen": "nothing"}
    pending = {}  # dom -> (Popen of the query-status, since, lm, threads)
    deadline = time.monotonic() + timeout
    nxt = time.monotonic()
    while st and time.monotonic() < deadline:
        for dom in list(st):
            s = st[dom]
            pid = s["pid"]
            if dom in pending:
                proc, since, lm, threads = pending[dom]
                if proc.poll() is None and time.time() - since < 60:
                    # The 1.5 s timeout is timeout(1)'s; poll() sees it end.
                    continue
                del pending[dom]
                if proc.returncode == 124:
                    write_kv(os.path.join(outdir, dom + ".hang"), {
                        "start": "%.6f" % since, "tid": lm, "pid": pid, "threads": ",".join(threads)})
                    del st[dom]
                    continue
                s["seen"] += ", but query-status answered (rc %s)" % proc.returncode
                s["since"] = None
                continue
            if not os.path.exists("/proc/%d" % pid):
                s["seen"] = "QEMU %d is gone" % pid
                continue
            if s["lm"] is None or not os.path.exists("/proc/%d/task/%d" % (pid, s["lm"])):
                s["lm"] = tid_named(pid, "live_migration")
            now = time.time()
            m = syscall_run(pid, pid)
            lm = s["lm"]
            l = syscall_run(pid, lm) if lm else None
            if not m or not l:
                s["since"] = None
                s["seen"] = "main thread in syscall %s, no live_migration thread" % (m[0] if m else "?")
                continue
            s["seen"] = "main thread in syscall %s, live_migration in %s" % (m[0], l[0])
            cur = (m, l)
            if m[0] == "202" and l[0] in ("271", "7"):
                if s["since"] is None or cur != s["first"]:
                    s["since"], s["first"] = now, cur
                elif now - s["since"] >= confirm:
                    threads = sorted(os.listdir("/proc/%d/task" % pid), key=int)
                    proc = subprocess.Popen(
                        ["timeout", "1.5", "virsh", "-q", "-c", uri, "qemu-monitor-command", dom,
                         '{"execute":"query-status"}'],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    pending[dom] = (proc, s["since"], lm, threads)
            else:
                s["since"] = None
        nxt += 0.05
        time.sleep(max(0.0, nxt - time.monotonic()))
    for dom, s in st.items():
        with open(os.path.join(outdir, dom + ".seen"), "w") as f:
            f.write(s["seen"] + "\n")
    return 1 if st else 0


def out_of_hang(pid):
    stat = read("/proc/%d/stat" % pid)
    if not stat:
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    sc = read("/proc/%d/task/%d/syscall" % (pid, pid))
    if state not in ("S", "R") or not sc:
        return False
    first = sc.split()[0]
    return first.isdigit() and first != "202"


def recovered(outdir, uri, run_dir, timeout, doms):
    left = set(doms)
    deadline = time.monotonic() + timeout
    while left and time.monotonic() < deadline:
        for dom in sorted(left):
            pid = (read(os.path.join(run_dir, "qemu", dom + ".pid")) or "").strip()
            if not pid.isdigit() or not out_of_hang(int(pid)):
                continue
            t = time.time()
            time.sleep(0.05)
            if not out_of_hang(int(pid)):
                continue
            rc, out = virsh(uri, "domstate", dom, timeout=5)
            if rc != 0 or not out.strip().startswith("running"):
                continue
            rc, out = virsh(uri, "qemu-monitor-command", dom, '{"execute":"query-status"}', timeout=5)
            if rc != 0 or '"running":true' not in out.replace(" ", ""):
                continue
            write_kv(os.path.join(outdir, dom + ".recovered"), {"at": "%.6f" % t, "pid": pid})
            left.discard(dom)
        time.sleep(0.1)
    return 1 if left else 0


if __name__ == "__main__":
    a = sys.argv
    if a[1] == "hang":
        sys.exit(hang(a[2], a[3], float(a[4]), a[5:]))
    if a[1] == "recovered":
        sys.exit(recovered(a[2], a[3], a[4], float(a[5]), a[6:]))
    sys.exit("usage: scale_watch.py hang|recovered ...")
