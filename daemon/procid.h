/* procid.h - a process identity that survives pid reuse: pid + start time
 * (field 22 of /proc/PID/stat, clock ticks since boot) + a pidfd.  Signals
 * go through the pidfd, so once captured they can never reach another
 * process that later got the same pid. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "procfs.h"		/* mg_procfs_start_time() */

struct mg_procid {
	pid_t pid;
	uint64_t start_time;	/* clock ticks after boot */
	int pidfd;		/* -1 when pidfd_open is unavailable */
	char exe[256];		/* /proc/PID/exe at capture, "" when unreadable */
};

/* This boot's id (/proc/sys/kernel/random/boot_id, without its newline)
 * into buf: with a process's start time it names that process across
 * reboots.  0 or a negative errno (buf then empty). */
int mg_boot_id(char *buf, size_t size);
/* The boot id as process pid sees it (read through /proc/PID/root): a
 * container may show its processes a boot id of its own, and a service's
 * sandbox (ProtectKernelTunables=) may show the kernel's instead, so a
 * process's own record is compared with its own view.  Falls back to
 * mg_boot_id() when that path cannot be read. */
int mg_boot_id_of(pid_t pid, char *buf, size_t size);
/* Captures pid's identity now; 0 or a negative errno (-ESRCH). */
int mg_procid_capture(pid_t pid, struct mg_procid *id);
/* 0 when the same process still runs; -ESRCH when it is gone; -ESTALE when
 * the pid now names another process (start time differs). */
int mg_procid_verify(const struct mg_procid *id);
/* Verifies, then sends sig through the pidfd; the verification result on
 * mismatch, never a signal to another process. */
int mg_procid_signal(const struct mg_procid *id, int sig);
/* True once the process has exited (pidfd readable, or /proc entry gone). */
bool mg_procid_exited(const struct mg_procid *id);
void mg_procid_release(struct mg_procid *id);
/* The executable of pid (read through proc_dirfd, an open /proc/PID, when
 * >= 0) into buf without a " (deleted)" suffix; "" when unreadable. */
void mg_procid_exe(pid_t pid, int proc_dirfd, char *buf, size_t size);

/* Whether a socket's peer credentials (SO_PEERCRED: the process that
 * called listen() on a unix socket, as our pid namespace sees it) belong to
 * process pid: peer_pid is pid or one of its threads (/proc/PID/task), and
 * peer_uid is one of pid's uids (real, effective, saved, filesystem) or
 * root.  Root because QEMU's -runas changes its uids after it made its
 * sockets (os_setup_post() runs after the chardevs are created); libvirt
 * sets the uid before exec instead.  A peer pid of 0 (a listener outside
 * our pid namespace) never matches.  0; -EPERM with *why saying which part
 * differs; -ESRCH when pid is gone. */
int mg_procid_check_peer(pid_t pid, pid_t peer_pid, uid_t peer_uid, char *why, size_t size);
