#!/usr/bin/env python3
"""unstick.py - what migguardd's "unstick" rung does, by hand (issue 13), for
the test bed's experiments (tests/testbed/unstick-experiment.sh).

  unstick.py fds PID             QEMU's socket fds: fd, inode, family, state,
                                 local and peer address, peer pid/comm (unix
                                 peers from `ss -xpn`, TCP from /proc/PID/net)
  unstick.py nbd-fd PID PEER     the fd whose peer is the NBD server: PEER is
                                 the server's pid (unix) or tcp:PORT
  unstick.py mig-fd PID          the fd live_migration is blocked on (first
                                 argument of its /proc/PID/task/TID/syscall
                                 when that is sendmsg, write or writev)
  unstick.py shut PID FD         pidfd_open(PID) + pidfd_getfd(FD) (syscalls
                                 434 and 438 on x86_64), shutdown(SHUT_RDWR)
                                 on the duplicate; prints the epoch time of
                                 the shutdown
"""
import ctypes, os, re, socket, subprocess, sys, time

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
SYS_pidfd_open, SYS_pidfd_getfd = 434, 438


def sock_fds(pid):
    out = {}
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", link)
        if m:
            out[int(fd)] = int(m.group(1))
    return out


def unix_table():
    """inode -> (local path, peer inode, users) from ss -xpn."""
    t = {}
    txt = subprocess.run(["ss", "-xapnH"], capture_output=True, text=True).stdout
    for line in txt.splitlines():
        f = line.split()
        if len(f) < 8:
            continue
        # Netid State Recv-Q Send-Q Local Port Peer Port [users]
        try:
            ino, peer = int(f[5]), int(f[7]) if f[7] != "*" else 0
        except ValueError:
            continue
        t[ino] = dict(state=f[1], recvq=int(f[2]), sendq=int(f[3]), path=f[4], peer=peer,
                      users=" ".join(f[8:]))
    return t


def tcp_table(pid):
    t = {}
    for name in ("tcp", "tcp6"):
        try:
            lines = open("/proc/%d/net/%s" % (pid, name)).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            def addr(a):
                ip, port = a.split(":")
                return "%s:%d" % (socket.inet_ntoa(bytes.fromhex(ip)[::-1]) if len(ip) == 8 else ip, int(port, 16))
            tx, rx = f[4].split(":")
            t[int(f[9])] = dict(local=addr(f[1]), peer=addr(f[2]), state=f[3], sendq=int(tx, 16), recvq=int(rx, 16))
    return t


def owner_of(table, ino):
    e = table.get(ino)
    return e["users"] if e else ""


def cmd_fds(pid):
    ux, tcp = unix_table(), tcp_table(pid)
    for fd, ino in sorted(sock_fds(pid).items()):
        if ino in ux:
            e = ux[ino]
            print("fd %d inode %d unix %s %s peer-inode %d peer %s Recv-Q %d Send-Q %d" %
                  (fd, ino, e["state"], e["path"], e["peer"], owner_of(ux, e["peer"]) or "-", e["recvq"], e["sendq"]))
        elif ino in tcp:
            e = tcp[ino]
            print("fd %d inode %d tcp st=%s %s -> %s Recv-Q %d Send-Q %d" %
                  (fd, ino, e["state"], e["local"], e["peer"], e["recvq"], e["sendq"]))
        else:
            print("fd %d inode %d other" % (fd, ino))


def cmd_nbd_fd(pid, peer):
    fds = sock_fds(pid)
    if peer.startswith("tcp:"):
        port = int(peer[4:])
        tcp = tcp_table(pid)
        hits = [fd for fd, ino in fds.items() if ino in tcp and tcp[ino]["peer"].endswith(":%d" % port)
                and tcp[ino]["state"] == "01"]
    else:
        ux = unix_table()
        npid = "pid=%s," % peer
        hits = [fd for fd, ino in fds.items() if ino in ux and npid in owner_of(ux, ux[ino]["peer"])]
    if len(hits) != 1:
        sys.exit("nbd-fd: %d candidates: %s" % (len(hits), hits))
    print(hits[0])


def cmd_mig_fd(pid):
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            comm = open("/proc/%d/task/%s/comm" % (pid, tid)).read().strip()
        except OSError:
            continue
        if comm == "live_migration":
            sc = open("/proc/%d/task/%s/syscall" % (pid, tid)).read().split()
            if sc[0] not in ("46", "1", "20"):
                sys.exit("mig-fd: live_migration in syscall %s" % " ".join(sc[:2]))
            print(int(sc[1], 16))
            return
    sys.exit("mig-fd: no live_migration thread")


def cmd_shut(pid, fd):
    pidfd = libc.syscall(SYS_pidfd_open, pid, 0)
    if pidfd < 0:
        sys.exit("pidfd_open: %s" % os.strerror(ctypes.get_errno()))
    dup = libc.syscall(SYS_pidfd_getfd, pidfd, fd, 0)
    if dup < 0:
        sys.exit("pidfd_getfd: %s" % os.strerror(ctypes.get_errno()))
    s = socket.socket(fileno=dup)
    t = time.time()
    s.shutdown(socket.SHUT_RDWR)
    print("%.6f" % t)
    s.close()
    os.close(pidfd)


if __name__ == "__main__":
    a = sys.argv[1:]
    if a[:1] == ["fds"]:
        cmd_fds(int(a[1]))
    elif a[:1] == ["nbd-fd"]:
        cmd_nbd_fd(int(a[1]), a[2])
    elif a[:1] == ["mig-fd"]:
        cmd_mig_fd(int(a[1]))
    elif a[:1] == ["shut"]:
        cmd_shut(int(a[1]), int(a[2]))
    else:
        sys.exit(__doc__)
