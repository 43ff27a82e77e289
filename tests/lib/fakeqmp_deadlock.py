#!/usr/bin/env python3
"""fakeqmp_deadlock.py - fakeqmp.py (same arguments, same script language)
in a process that also holds a real lock cycle: two threads named as in the
seed's deadlock, "live_migration" and "IO iothread1", each holding a pthread
mutex and waiting for the other's (taken through ctypes, so they are glibc
mutexes whose futex word and __owner the snapshot reads as in QEMU).  The
guard's snapshot of this process then finds the cycle, and the ladder
acting on it can be tested without the seeded QEMU.

usage: fakeqmp_deadlock.py SOCKET SCRIPT LOG
"""
import ctypes
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakeqmp  # noqa: E402

PR_SET_NAME = 15
libc = ctypes.CDLL(None, use_errno=True)
# pthread_mutex_t is 40 bytes on x86_64; zeroed is PTHREAD_MUTEX_INITIALIZER.
mutexes = [ctypes.create_string_buffer(64), ctypes.create_string_buffer(64)]
both_hold = threading.Barrier(2)


def deadlocked(name, first, second):
    libc.prctl(PR_SET_NAME, name.encode(), 0, 0, 0)
    libc.pthread_mutex_lock(mutexes[first])
    both_hold.wait()
    libc.pthread_mutex_lock(mutexes[second])  # never returns


def main():
    threads = [threading.Thread(target=deadlocked, args=("live_migration", 0, 1), daemon=True),
               threading.Thread(target=deadlocked, args=("IO iothread1", 1, 0), daemon=True)]
    for t in threads:
        t.start()
    fakeqmp.main()


if __name__ == "__main__":
    main()
