/* procid.c - see procid.h. */
#include "procid.h"
#include "procfs.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

int mg_boot_id(char *buf, size_t size)
{
	ssize_t n = mg_read_file("/proc/sys/kernel/random/boot_id", buf, size);

	if (n <= 0) {
		if (size)
			buf[0] = '\0';
		return n < 0 ? (int)n : -ENODATA;
	}
	if (buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	return 0;
}

int mg_boot_id_of(pid_t pid, char *buf, size_t size)
{
	char path[96];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/root/proc/sys/kernel/random/boot_id", (int)pid);
	n = mg_read_file(path, buf, size);
	if (n <= 0)
		return mg_boot_id(buf, size);
	if (buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	return 0;
}

int mg_procid_capture(pid_t pid, struct mg_procid *id)
{
	uint64_t before, after;
	int r;

	id->pid = pid;
	id->pidfd = -1;
	r = mg_procfs_start_time(pid, &before);
	if (r < 0)
		return r;
	id->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (id->pidfd < 0 && errno == ESRCH)
		return -ESRCH;
	/* The pidfd must name the process whose start time we read: read it
	 * again after opening, a reused pid would show a new start time. */
	r = mg_procfs_start_time(pid, &after);
	if (r < 0 || after != before) {
		mg_procid_release(id);
		return r < 0 ? r : -ESTALE;
	}
	id->start_time = before;
	mg_procid_exe(pid, -1, id->exe, sizeof(id->exe));
	return 0;
}

void mg_procid_exe(pid_t pid, int proc_dirfd, char *buf, size_t size)
{
	char path[64];
	ssize_t n;

	/* A binary replaced by a package upgrade reads "PATH (deleted)": still
	 * the same program for the guard's purpose. */
	if (proc_dirfd >= 0) {
		n = readlinkat(proc_dirfd, "exe", buf, size - 1);
	} else {
		snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
		n = readlink(path, buf, size - 1);
	}
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	if (n > 10 && strcmp(buf + n - 10, " (deleted)") == 0)
		buf[n - 10] = '\0';
}

int mg_procid_verify(const struct mg_procid *id)
{
	uint64_t now;
	int r = mg_procfs_start_time(id->pid, &now);

	if (r < 0)
		return r;
	return now == id->start_time ? 0 : -ESTALE;
}

int mg_procid_signal(const struct mg_procid *id, int sig)
{
	int r = mg_procid_verify(id);

	if (r < 0)
		return r;
	if (id->pidfd >= 0)
		r = (int)syscall(SYS_pidfd_send_signal, id->pidfd, sig, NULL, 0);
	else
		r = kill(id->pid, sig);
	return r < 0 ? -errno : 0;
}

bool mg_procid_exited(const struct mg_procid *id)
{
	struct pollfd p = { .fd = id->pidfd, .events = POLLIN };

	if (id->pidfd >= 0)
		return poll(&p, 1, 0) > 0;
	return mg_procid_verify(id) < 0;
}

void mg_procid_release(struct mg_procid *id)
{
	if (id->pidfd >= 0)
		close(id->pidfd);
	id->pidfd = -1;
}

int mg_procid_check_peer(pid_t pid, pid_t peer_pid, uid_t peer_uid, char *why, size_t size)
{
	uid_t uids[4];
	int r;

	snprintf(why, size, "%s", "");
	r = mg_procfs_uids(pid, uids);
	if (r < 0) {
		snprintf(why, size, "cannot read the uids of pid %d: %s", (int)pid, strerror(-r));
		return r == -ESRCH ? r : -EPERM;
	}
	if (peer_pid <= 0 || !mg_procfs_has_task(pid, peer_pid)) {
		snprintf(why, size, "the socket is served by pid %d, not by pid %d or one of its threads",
			 (int)peer_pid, (int)pid);
		return -EPERM;
	}
	if (peer_uid != 0 && peer_uid != uids[0] && peer_uid != uids[1] && peer_uid != uids[2] &&
	    peer_uid != uids[3]) {
		snprintf(why, size, "the socket's owner uid %u is not a uid of pid %d (%u)",
			 (unsigned)peer_uid, (int)pid, (unsigned)uids[1]);
		return -EPERM;
	}
	return 0;
}
