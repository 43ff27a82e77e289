/* stall.c - a process hung the way QEMU hangs at switch-over, for the
 * unstick tests: real threads, a real mutex, a real socket to a peer the
 * test controls.  Threads and functions are named as QEMU's (noinline, so
 * each one is a frame):
 *
 *   live_migration: takes the "BQL", then
 *     drain    - sends a 16-byte request to ADDR and waits for the reply
 *                in vm_stop -> do_vm_stop -> bdrv_drain_all -> aio_poll
 *                -> ppoll (the storage stall);
 *     write    - writes the final state to ADDR in
 *                qemu_savevm_state_complete_precopy -> sendmsg until the
 *                peer stops reading (the switch-over write);
 *     unknown  - sends the request and waits for the reply in
 *                ram_save_iterate -> aio_poll: a wait on a socket, but not
 *                under vm_stop (a stack of no known kind);
 *     accepted - listens on ADDR itself and waits in the drain's ppoll on
 *                the connection it accepted (a socket QEMU serves: a
 *                monitor or chardev, which unstick must never shut);
 *   main: waits for the BQL (the futex the BQL probe follows);
 *   IO mon_iothread: idle in ppoll on an eventfd.
 *
 * ADDR is a unix socket path, or HOST:PORT for TCP.  Arguments after ADDR
 * are ignored: the tests put QEMU-shaped -blockdev options there for the
 * command-line reader.  "ready" is printed once live_migration holds the
 * BQL and is about to block (the test then waits for the main thread on
 * the futex); "unstuck RESULT" when its wait ended, after which the BQL is
 * released and the process exits 0. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

static pthread_mutex_t bql = PTHREAD_MUTEX_INITIALIZER;
static sem_t held;
static const char *mode, *addr;

static int connect_addr(void)
{
	const char *colon = strrchr(addr, ':');
	int fd;

	if (addr[0] == '/') {
		struct sockaddr_un u = { .sun_family = AF_UNIX };

		snprintf(u.sun_path, sizeof(u.sun_path), "%s", addr);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&u, sizeof(u)) == 0)
			return fd;
	} else if (colon) {
		struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1)) };
		char host[64];

		snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
		inet_pton(AF_INET, host, &in.sin_addr);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&in, sizeof(in)) == 0)
			return fd;
	}
	perror("connect");
	exit(2);
}

static int accept_on_addr(void)
{
	struct sockaddr_un u = { .sun_family = AF_UNIX };
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), c;

	snprintf(u.sun_path, sizeof(u.sun_path), "%s", addr);
	if (l < 0 || bind(l, (struct sockaddr *)&u, sizeof(u)) < 0 || listen(l, 1) < 0) {
		perror("listen");
		exit(2);
	}
	printf("listening\n");
	fflush(stdout);
	c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0) {
		perror("accept");
		exit(2);
	}
	return c;
}

static NOINLINE int aio_poll(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r = ppoll(&p, 1, NULL, NULL);

	return r < 0 ? -errno : p.revents;
}

static NOINLINE int bdrv_drain_all(int fd) { return aio_poll(fd); }
static NOINLINE int do_vm_stop(int fd) { return bdrv_drain_all(fd); }
static NOINLINE int vm_stop(int fd) { return do_vm_stop(fd); }

static NOINLINE int ram_save_iterate(int fd) { return aio_poll(fd); }

static NOINLINE int qemu_savevm_state_complete_precopy(int fd)
{
	static char state[65536];

	for (;;) {
		ssize_t n = send(fd, state, sizeof(state), MSG_NOSIGNAL);

		if (n < 0)
			return -errno;
	}
}

static void *migration_thread(void *arg)
{
	int fd, r;

	pthread_mutex_lock(&bql);
	sem_post(&held);
	fd = strcmp(mode, "accepted") == 0 ? accept_on_addr() : connect_addr();
	printf("ready\n");
	fflush(stdout);
	if (strcmp(mode, "write") == 0) {
		r = qemu_savevm_state_complete_precopy(fd);
	} else if (strcmp(mode, "unknown") == 0) {
		if (send(fd, "NBD-REQUEST-16B!", 16, MSG_NOSIGNAL) != 16)
			exit(2);
		r = ram_save_iterate(fd);
	} else {
		if (strcmp(mode, "drain") == 0 && send(fd, "NBD-REQUEST-16B!", 16, MSG_NOSIGNAL) != 16)
			exit(2);
		r = vm_stop(fd);
	}
	printf("unstuck %d\n", r);
	fflush(stdout);
	pthread_mutex_unlock(&bql);
	exit(0);
}

static void *monitor_thread(void *arg)
{
	int efd = eventfd(0, EFD_CLOEXEC);

	aio_poll(efd);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t mig, mon;

	if (argc < 3 || (strcmp(argv[1], "drain") && strcmp(argv[1], "write") && strcmp(argv[1], "accepted") &&
			 strcmp(argv[1], "unknown"))) {
		fprintf(stderr, "usage: stall drain|write|unknown|accepted ADDR [ignored...]\n");
		return 2;
	}
	mode = argv[1];
	addr = argv[2];
	signal(SIGPIPE, SIG_IGN);
	sem_init(&held, 0, 0);
	pthread_create(&mon, NULL, monitor_thread, NULL);
	pthread_setname_np(mon, "IO mon_iothread");
	pthread_create(&mig, NULL, migration_thread, NULL);
	pthread_setname_np(mig, "live_migration");
	sem_wait(&held);
	pthread_mutex_lock(&bql);	/* blocks for as long as the hang lasts */
	return 0;
}
