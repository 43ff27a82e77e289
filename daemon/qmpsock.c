/* qmpsock.c - see qmpsock.h. */
#include "qmpsock.h"
#include "log.h"
#include "procid.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int mg_qmpsock_connect_unix(const char *path, int *fd, bool *connecting)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	r = connect(s, (struct sockaddr *)&sa, sizeof(sa));
	if (r < 0 && errno != EINPROGRESS) {
		r = -errno;
		close(s);
		return r;
	}
	*fd = s;
	*connecting = r < 0;
	return 0;
}

int mg_qmpsock_adopt(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return 0;
}

int mg_qmpsock_connect_result(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	return -err;
}

/* Whoever can write the socket's directory can serve its path: the socket
 * counts as QEMU's monitor only when the listening process is the QEMU
 * being guarded (SO_PEERCRED names the process that called listen(), here
 * QEMU's own -qmp/-chardev socket).  Checked before a byte is read, so a
 * refused peer can neither make the guard declare anything nor get any
 * process signalled. */
int mg_qmpsock_check_peer(int fd, pid_t pid, const char *name, const char *peer)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	char why[160];
	int r;

	if (pid <= 0)
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return mg_error_errno(errno, "qmp %s: refusing the monitor at %s: no peer credentials",
				      name, peer);
	r = mg_procid_check_peer(pid, cred.pid, cred.uid, why, sizeof(why));
	if (r == -ESRCH) {
		mg_info("qmp %s: pid %d is gone, not connecting to %s", name, (int)pid, peer);
		return r;
	}
	if (r < 0) {
		mg_error("qmp %s: refusing the monitor at %s (peer pid %d uid %u): %s; nothing it "
			 "sends is read", name, peer, (int)cred.pid, (unsigned)cred.uid, why);
		return -EPERM;
	}
	return 0;
}
