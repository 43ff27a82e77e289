/* wake_floor - what one wake-up costs on this machine, for bench/detect:
 *   wake_floor INTERVAL_MS COUNT
 * Sleeps in epoll_wait on a timerfd that fires every INTERVAL_MS (as the
 * guard's sd-event loop does between probe rounds), COUNT times, and does
 * nothing else; prints `wakeups=N` and `sched_ns=NS`, the on-CPU time of
 * this thread over them (/proc/thread-self/schedstat, field 1).  The floor
 * under any per-round figure: a round cannot cost less than its wake-ups. */
#include "procfs.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct mg_procfs_schedstat a, b;
	struct itimerspec its = { 0 };
	struct epoll_event ev = { .events = EPOLLIN };
	long ms, count;
	pid_t tid = (pid_t)syscall(SYS_gettid);
	int tfd, ep;

	if (argc != 3 || (ms = atol(argv[1])) <= 0 || (count = atol(argv[2])) <= 0) {
		fprintf(stderr, "usage: %s INTERVAL_MS COUNT\n", argv[0]);
		return 2;
	}
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (tfd < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev) < 0) {
		perror("wake_floor");
		return 1;
	}
	its.it_value.tv_sec = its.it_interval.tv_sec = ms / 1000;
	its.it_value.tv_nsec = its.it_interval.tv_nsec = (ms % 1000) * 1000000;
	if (timerfd_settime(tfd, 0, &its, NULL) < 0 || mg_procfs_schedstat(getpid(), tid, &a) < 0) {
		perror("wake_floor");
		return 1;
	}
	for (long i = 0; i < count; i++) {
		uint64_t expirations;

		if (epoll_wait(ep, &ev, 1, -1) != 1 || read(tfd, &expirations, sizeof(expirations)) < 0) {
			perror("wake_floor");
			return 1;
		}
	}
	if (mg_procfs_schedstat(getpid(), tid, &b) < 0)
		return 1;
	printf("wakeups=%ld\nsched_ns=%" PRIu64 "\n", count, b.run_ns - a.run_ns);
	return 0;
}
