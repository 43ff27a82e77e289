/* Unit tests of the unstick rung (unstick.c) on real processes: the target
 * tests/targets/stall hangs the way QEMU does (live_migration holds the
 * BQL and waits on a socket, the main thread waits for the BQL), its peer
 * is a child of this test that accepts the connection and then stops,
 * reads, or just holds it.  The plan comes from a real snapshot of the
 * target, the checks read the real /proc, and the shutdown is real: the
 * target says "unstuck" when its wait ends.  The hang's monitor facts
 * (check 2) are given, as the watch would give them. */
#include "unstick.h"
#include "log.h"
#include "probe.h"
#include "procid.h"
#include "util.h"

#include "fake_snapshot.h"
#include "mgcheck.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TARGET "tests/targets/stall"

enum peer_mode {
	PEER_STOP,		/* accepts, then stops itself (SIGSTOP): stalled */
	PEER_READ,		/* reads everything, never answers: slow, not stalled */
	PEER_HOLD,		/* accepts and sleeps without reading: queue not moving */
};

struct bed {
	char dir[64], addr[100];
	pid_t peer, target;
	FILE *out;		/* the target's stdout */
	struct mg_procid id;
	struct mg_unstick_plan plan;
	struct mg_unstick_params params;
	struct mg_unstick_result res;
};

static struct bed b;

static void setup(void)
{
	memset(&b, 0, sizeof(b));
	b.id.pidfd = -1;
	mg_log_setup(MG_LOG_STDERR, LOG_WARNING, "test_unstick");
	mg_test_mkdtemp(b.dir, sizeof(b.dir), "unstick");
}

static void reap(pid_t *pid)
{
	if (*pid <= 0)
		return;
	kill(*pid, SIGCONT);
	kill(*pid, SIGKILL);
	waitpid(*pid, NULL, 0);
	*pid = 0;
}

static void teardown(void)
{
	reap(&b.target);
	reap(&b.peer);
	if (b.out)
		fclose(b.out);
	mg_procid_release(&b.id);
	mg_test_rm_rf(b.dir);
}

static void wait_until(bool (*cond)(void), const char *what)
{
	struct timespec ts = { 0, 5 * 1000 * 1000 };

	for (int i = 0; i < 2000; i++) {
		if (cond())
			return;
		nanosleep(&ts, NULL);
	}
	ck_abort_msg("timed out waiting for %s", what);
}

/* The peer: listens on b.addr (a unix path, or 127.0.0.1 on a port the
 * kernel picks, written back into b.addr), accepts one connection. */
static void start_peer(enum peer_mode mode, bool tcp, const char *comm)
{
	int l, c, sync[2];
	char port[16] = "";

	ck_assert_int_eq(pipe(sync), 0);
	if (tcp) {
		struct sockaddr_in in = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t len = sizeof(in);

		l = socket(AF_INET, SOCK_STREAM, 0);
		ck_assert_int_eq(bind(l, (struct sockaddr *)&in, sizeof(in)), 0);
		ck_assert_int_eq(getsockname(l, (struct sockaddr *)&in, &len), 0);
		snprintf(b.addr, sizeof(b.addr), "127.0.0.1:%u", ntohs(in.sin_port));
		snprintf(port, sizeof(port), "%u", ntohs(in.sin_port));
	} else {
		struct sockaddr_un u = { .sun_family = AF_UNIX };

		snprintf(b.addr, sizeof(b.addr), "%s/nbd.sock", b.dir);
		snprintf(u.sun_path, sizeof(u.sun_path), "%s", b.addr);
		l = socket(AF_UNIX, SOCK_STREAM, 0);
		ck_assert_int_eq(bind(l, (struct sockaddr *)&u, sizeof(u)), 0);
	}
	ck_assert_int_eq(listen(l, 4), 0);
	b.peer = fork();
	ck_assert_int_ge(b.peer, 0);
	if (b.peer == 0) {
		char buf[4096];

		if (comm)
			prctl(PR_SET_NAME, comm);
		close(sync[0]);
		if (write(sync[1], "x", 1) != 1)
			_exit(1);
		c = accept(l, NULL, NULL);
		if (mode == PEER_STOP)
			raise(SIGSTOP);
		while (mode == PEER_READ && read(c, buf, sizeof(buf)) > 0)
			;
		for (;;)
			pause();
	}
	close(sync[1]);
	ck_assert_int_eq(read(sync[0], port, 1), 1);
	close(sync[0]);
	close(l);
}

/* The main thread waits for the BQL, and live_migration sleeps in its
 * wait (it prints "ready" just before entering it). */
static bool target_hung(void)
{
	struct mg_bql_result r;

	return mg_probe_bql(b.target, NULL, &r) == 0 && r.held && r.owner_is_migration &&
	       mg_procfs_state(b.target, r.owner_tid) == 'S';
}

static bool peer_stopped(void) { return mg_procfs_state(b.peer, 0) == 'T'; }

/* The target in mode, with extra argv (the -blockdev options QEMU would
 * carry), hung: the BQL held by live_migration, the main thread waiting. */
static void start_target(const char *mode, const char *const *extra)
{
	const char *argv[16] = { TARGET, mode, b.addr };
	size_t n = 3;
	int out[2];
	char line[64];

	for (; extra && *extra && n < 15; extra++)
		argv[n++] = *extra;
	ck_assert_int_eq(pipe(out), 0);
	b.target = fork();
	ck_assert_int_ge(b.target, 0);
	if (b.target == 0) {
		dup2(out[1], 1);
		close(out[0]);
		execv(TARGET, (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	b.out = fdopen(out[0], "r");
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), b.out));
	if (strcmp(mode, "accepted") == 0) {
		struct sockaddr_un u = { .sun_family = AF_UNIX };
		int c = socket(AF_UNIX, SOCK_STREAM, 0);

		ck_assert_str_eq(line, "listening\n");
		snprintf(u.sun_path, sizeof(u.sun_path), "%s", b.addr);
		ck_assert_int_eq(connect(c, (struct sockaddr *)&u, sizeof(u)), 0);
		ck_assert_ptr_nonnull(fgets(line, sizeof(line), b.out));
		/* c stays open (leaked to the end of this test's process). */
	}
	ck_assert_str_eq(line, "ready\n");
	wait_until(target_hung, "the target's main thread waiting for the BQL held by live_migration");
	ck_assert_int_eq(mg_procid_capture(b.target, &b.id), 0);
}

/* The snapshot, the plan, and check 2's facts as a watch would have them:
 * hung for 5 s, the BQL held by live_migration since just before. */
static void plan_and_params(void)
{
	struct mg_snapshot_opts opts = { .signatures_dir = "/nonexistent" };
	struct mg_snapshot *snap = NULL;
	struct mg_bql_result r;
	uint64_t now = mg_now_mono();

	ck_assert_int_eq(mg_snapshot_take(b.target, &opts, &snap), 0);
	mg_unstick_plan(snap, &b.plan);
	mg_snapshot_free(snap);
	ck_assert_int_eq(mg_probe_bql(b.target, NULL, &r), 0);
	b.params = (struct mg_unstick_params){
		.id = &b.id, .plan = &b.plan, .queue_window = 200 * MG_USEC_PER_MSEC,
		.hang = {
			.phase = MG_PHASE_HUNG, .hang_since = now - 5 * MG_USEC_PER_SEC, .bql_valid = true,
			.bql_held = r.held, .bql_owner = r.owner_tid, .bql_futex = r.futex_addr,
			.bql_since = now - 6 * MG_USEC_PER_SEC, .unresponsive_since = now - 5 * MG_USEC_PER_SEC,
			.probe_interval = 500 * MG_USEC_PER_MSEC,
		},
	};
	snprintf(b.params.hang.bql_owner_comm, sizeof(b.params.hang.bql_owner_comm), "%s", r.owner_comm);
}

static const char *blockdev(bool tcp, char *buf, size_t size)
{
	const char *colon = strrchr(b.addr, ':');

	if (tcp)
		snprintf(buf, size, "{\"driver\":\"raw\",\"node-name\":\"fmt\",\"file\":{\"driver\":\"nbd\","
			 "\"server\":{\"type\":\"inet\",\"host\":\"127.0.0.1\",\"port\":\"%s\"},"
			 "\"reconnect-delay\":3}}", colon + 1);
	else
		snprintf(buf, size, "driver=nbd,server.type=unix,server.path=%s,node-name=n0", b.addr);
	return buf;
}

static void assert_unstuck(void)
{
	char line[64];

	ck_assert_ptr_nonnull(fgets(line, sizeof(line), b.out));
	ck_assert_msg(strncmp(line, "unstuck", 7) == 0, "target said: %s", line);
}

static void assert_checks(size_t n_ok, const char *failed, int err)
{
	for (size_t i = 0; i < n_ok; i++)
		ck_assert_msg(b.res.checks[i].result == 0, "check %s: %s", b.res.checks[i].name,
			      b.res.checks[i].detail);
	if (failed) {
		ck_assert_uint_eq(b.res.n_checks, n_ok + 1);
		ck_assert_str_eq(b.res.checks[n_ok].name, failed);
		ck_assert_msg(b.res.checks[n_ok].result == err, "check %s: %d (%s)", failed, b.res.checks[n_ok].result,
			      b.res.checks[n_ok].detail);
		ck_assert(!b.res.shut);
	} else {
		ck_assert_uint_eq(b.res.n_checks, MG_UNSTICK_CHECKS);
	}
}

START_TEST(test_storage_stall_on_a_stopped_unix_server_is_shut_and_the_wait_ends)
{
	char bd[512];
	const char *extra[] = { "-blockdev", NULL, NULL };

	start_peer(PEER_STOP, false, "nbdkit");
	start_target("drain", (extra[1] = blockdev(false, bd, sizeof(bd)), extra));
	wait_until(peer_stopped, "the peer stopped");
	plan_and_params();
	ck_assert_int_eq(b.plan.kind, MG_UNSTICK_DRAIN);
	ck_assert_uint_eq(b.plan.n, 1);
	ck_assert_str_eq(b.plan.c[0].thread, "live_migration");
	ck_assert_int_eq(mg_unstick_run(&b.params, &b.res), 0);
	assert_checks(5, NULL, 0);
	ck_assert(b.res.shut);
	ck_assert_ptr_nonnull(strstr(b.res.checks[4].detail, "nbdkit"));
	ck_assert_ptr_nonnull(strstr(b.res.checks[4].detail, "T (stopped)"));
	ck_assert_ptr_nonnull(strstr(b.res.what, b.addr));
	assert_unstuck();
}
END_TEST

/* TCP, with the server given as -blockdev JSON nested in a format node;
 * its reconnect-delay extends the ladder's verification. */
START_TEST(test_storage_stall_on_a_stopped_tcp_server_is_shut)
{
	char bd[512];
	const char *extra[] = { "-blockdev", NULL, NULL };

	start_peer(PEER_STOP, true, "nbdkit");
	start_target("drain", (extra[1] = blockdev(true, bd, sizeof(bd)), extra));
	wait_until(peer_stopped, "the peer stopped");
	plan_and_params();
	ck_assert_int_eq(mg_unstick_run(&b.params, &b.res), 0);
	assert_checks(5, NULL, 0);
	ck_assert_ptr_nonnull(strstr(b.res.checks[3].detail, "tcp stream to 127.0.0.1:"));
	ck_assert_uint_eq(b.res.reconnect_delay, 3);
	assert_unstuck();
}
END_TEST

/* A peer that runs but never reads: its queue is the evidence, sampled
 * again after the window (-EAGAIN until then). */
START_TEST(test_peer_whose_receive_queue_does_not_move_is_stalled_after_the_window)
{
	char bd[512];
	const char *extra[] = { "-blockdev", NULL, NULL };
	int r;

	start_peer(PEER_HOLD, false, NULL);
	start_target("drain", (extra[1] = blockdev(false, bd, sizeof(bd)), extra));
	plan_and_params();
	ck_assert_int_gt(b.plan.c[0].queue, 0);
	b.params.queue_window = 60 * MG_USEC_PER_SEC;
	ck_assert_int_eq(mg_unstick_run(&b.params, &b.res), -EAGAIN);
	ck_assert_uint_eq(b.res.n_checks, 4);
	ck_assert(!b.res.shut);
	b.params.queue_window = 1;
	r = mg_unstick_run(&b.params, &b.res);
	ck_assert_msg(r == 0, "%d: %s", r, b.res.checks[b.res.n_checks - 1].detail);
	ck_assert_ptr_nonnull(strstr(b.res.checks[4].detail, "receive queue"));
	assert_unstuck();
}
END_TEST

/* A server that reads everything and only answers late: slow, not
 * stalled.  Shutting it would fail a request that was going to succeed. */
START_TEST(test_peer_that_reads_is_refused_at_check_peer)
{
	char bd[512];
	const char *extra[] = { "-blockdev", NULL, NULL };
	struct mg_bql_result r;

	start_peer(PEER_READ, false, "nbdkit");
	start_target("drain", (extra[1] = blockdev(false, bd, sizeof(bd)), extra));
	plan_and_params();
	ck_assert_int_eq(mg_unstick_run(&b.params, &b.res), -EBUSY);
	assert_checks(4, "peer", -EBUSY);
	ck_assert_ptr_nonnull(strstr(b.res.checks[4].detail, "slow, not stalled"));
	ck_assert(mg_probe_bql(b.target, NULL, &r) == 0 && r.held);
}
END_TEST

START_TEST(test_drain_peer_that_is_no_drives_server_is_refused_at_check_socket)
{
	start_peer(PEER_STOP, false, "nbdkit");
	start_target("drain", NULL);
	wait_until(peer_stopped, "the peer stopped");
	plan_and_params();
	ck_assert_int_eq(mg_unstick_run(&b.params, &b.res), -EPERM);
	assert_checks(3, "socket", -EPERM);
	ck_assert_ptr_nonnull(strstr(b.res.checks[3].detail, "no drive's storage server"));
}
END_TEST

/* libvirt takes the EOF of its monitor as a crash: never its peer. */
START_TEST(test_libvirt_daemon_peer_is_refused_at_check_socket)
{
	char bd[512];
	const char *extra[] = { "-blockdev", NULL, NULL };

	start_peer(PEER_STOP, false, "virtlogd");
	start_target("drain", (extra[1] = blockdev(false, bd, sizeof(bd)), extra));
	wait_until(peer_stopped, "the peer stopped");
	plan_and_params();
	ck_assert_int_eq(mg_unstick_run(&b.params, &b.res), -EPERM);
	assert_checks(3, "socket", -EPERM);
	ck_assert_ptr_nonnull(strstr(b.res.checks[3].detail, "virtlogd"));
}
END_TEST

/* A connection QEMU accepted on its own socket (a monitor, a chardev):
 * QEMU's end is bound, never shut. */
START_TEST(test_socket_qemu_accepted_is_refused_at_check_socket)
{
	char bd[512];
	const char *extra[] = { "-blockdev", NULL, NULL };

	snprintf(b.addr, sizeof(b.addr), "%s/monitor.sock", b.dir);
	start_target("accepted", (extra[1] = blockdev(false, bd, sizeof(bd)), extra));
	plan_and_params();
	ck_assert_int_eq(b.plan.kind, MG_UNSTICK_DRAIN);
	ck_assert_int_eq(mg_unstick_run(&b.params, &b.res), -EPERM);
	assert_checks(3, "socket", -EPERM);
	ck_assert_ptr_nonnull(strstr(b.res.checks[3].detail, "QEMU's end is bound"));
}
END_TEST

/* The switch-over write to a stopped destination. */
START_TEST(test_switchover_write_to_a_stopped_destination_is_shut)
{
	start_peer(PEER_STOP, false, "qemu-system-x86");
	start_target("write", NULL);
	wait_until(peer_stopped, "the peer stopped");
	plan_and_params();
	ck_assert_int_eq(b.plan.kind, MG_UNSTICK_SWITCHOVER);
	ck_assert_int_eq(mg_unstick_run(&b.params, &b.res), 0);
	assert_checks(5, NULL, 0);
	ck_assert_ptr_nonnull(strstr(b.res.checks[3].detail, "the migration destination"));
	assert_unstuck();
}
END_TEST

/* The switch-over write whose peer is a drive's storage server: that is no
 * migration destination, whatever the stack says. */
START_TEST(test_switchover_write_to_a_storage_server_is_refused_at_check_socket)
{
	char bd[512];
	const char *extra[] = { "-blockdev", NULL, NULL };

	start_peer(PEER_STOP, false, "nbdkit");
	start_target("write", (extra[1] = blockdev(false, bd, sizeof(bd)), extra));
	wait_until(peer_stopped, "the peer stopped");
	plan_and_params();
	ck_assert_int_eq(b.plan.kind, MG_UNSTICK_SWITCHOVER);
	ck_assert_int_eq(mg_unstick_run(&b.params, &b.res), -EPERM);
	assert_checks(3, "socket", -EPERM);
	ck_assert_ptr_nonnull(strstr(b.res.checks[3].detail, "not the migration destination"));
}
END_TEST

/* Check 1: the pid is another process (start time differs): nothing is
 * read or taken from it. */
START_TEST(test_other_start_time_is_refused_at_check_pinned)
{
	char bd[512];
	const char *extra[] = { "-blockdev", NULL, NULL };

	start_peer(PEER_STOP, false, "nbdkit");
	start_target("drain", (extra[1] = blockdev(false, bd, sizeof(bd)), extra));
	plan_and_params();
	b.id.start_time++;
	ck_assert_int_eq(mg_unstick_run(&b.params, &b.res), -ESTALE);
	assert_checks(0, "pinned", -ESTALE);
}
END_TEST

/* Check 2: a monitor that answers is contention, not a hang; a BQL holder
 * first seen late in the hang changed hands. */
START_TEST(test_answering_monitor_or_late_bql_holder_is_refused_at_check_hang)
{
	char bd[512];
	const char *extra[] = { "-blockdev", NULL, NULL };

	start_peer(PEER_STOP, false, "nbdkit");
	start_target("drain", (extra[1] = blockdev(false, bd, sizeof(bd)), extra));
	plan_and_params();
	b.params.hang.unresponsive_since = 0;
	ck_assert_int_eq(mg_unstick_run(&b.params, &b.res), -EINVAL);
	assert_checks(1, "hang", -EINVAL);
	ck_assert_ptr_nonnull(strstr(b.res.checks[1].detail, "monitor answers"));
	b.params.hang.unresponsive_since = b.params.hang.hang_since;
	b.params.hang.bql_since = b.params.hang.hang_since + 3 * MG_USEC_PER_SEC;
	ck_assert_int_eq(mg_unstick_run(&b.params, &b.res), -EINVAL);
	assert_checks(1, "hang", -EINVAL);
	ck_assert_ptr_nonnull(strstr(b.res.checks[1].detail, "changed hands"));
}
END_TEST

/* Check 3: live_migration holds the BQL and waits on a stopped server's
 * socket, but not under vm_stop: no known kind, nothing is taken. */
START_TEST(test_stack_of_no_known_kind_is_refused_at_check_wait)
{
	char bd[512];
	const char *extra[] = { "-blockdev", NULL, NULL };

	start_peer(PEER_STOP, false, "nbdkit");
	start_target("unknown", (extra[1] = blockdev(false, bd, sizeof(bd)), extra));
	wait_until(peer_stopped, "the peer stopped");
	plan_and_params();
	ck_assert_int_eq(b.plan.kind, MG_UNSTICK_NONE);
	ck_assert_int_eq(mg_unstick_run(&b.params, &b.res), -ENOENT);
	assert_checks(2, "wait", -ENOENT);
	ck_assert_ptr_nonnull(strstr(b.res.checks[2].detail, "matches no known kind"));
}
END_TEST

/* Check 3 from the plan: a lock cycle (the seed's deadlock) has no socket
 * to shut. */
START_TEST(test_lock_cycle_plan_has_no_kind)
{
	struct mg_snapshot *snap = mg_test_deadlock(MG_TEST_DWARF);
	struct mg_unstick_plan p;

	mg_unstick_plan(snap, &p);
	ck_assert_int_eq(p.kind, MG_UNSTICK_NONE);
	ck_assert(p.lock_cycle);
	ck_assert_ptr_nonnull(strstr(p.why, "lock cycle"));
	mg_snapshot_free(snap);
}
END_TEST

static Suite *unstick_suite(void)
{
	Suite *s = suite_create("unstick");
	TCase *tc = tcase_create("real processes");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_storage_stall_on_a_stopped_unix_server_is_shut_and_the_wait_ends);
	tcase_add_test(tc, test_storage_stall_on_a_stopped_tcp_server_is_shut);
	tcase_add_test(tc, test_peer_whose_receive_queue_does_not_move_is_stalled_after_the_window);
	tcase_add_test(tc, test_peer_that_reads_is_refused_at_check_peer);
	tcase_add_test(tc, test_drain_peer_that_is_no_drives_server_is_refused_at_check_socket);
	tcase_add_test(tc, test_libvirt_daemon_peer_is_refused_at_check_socket);
	tcase_add_test(tc, test_socket_qemu_accepted_is_refused_at_check_socket);
	tcase_add_test(tc, test_switchover_write_to_a_stopped_destination_is_shut);
	tcase_add_test(tc, test_switchover_write_to_a_storage_server_is_refused_at_check_socket);
	tcase_add_test(tc, test_other_start_time_is_refused_at_check_pinned);
	tcase_add_test(tc, test_answering_monitor_or_late_bql_holder_is_refused_at_check_hang);
	tcase_add_test(tc, test_stack_of_no_known_kind_is_refused_at_check_wait);
	tcase_add_test(tc, test_lock_cycle_plan_has_no_kind);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return mg_check_run(unstick_suite());
}
