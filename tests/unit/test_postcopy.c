/* Unit tests of the post-copy guard (postcopy.c): what a break leads to
 * under each postcopy_action, on each side, with the libvirt calls
 * replaced by stubs that count and record their arguments (they run on a
 * real worker pool, as in the daemon).  The "QEMU" is a sleeping child:
 * its socket traffic (/proc/PID/io) never grows, so it stalls after
 * stall_timeout unless a test makes the timeout long.  The real thing, on
 * real QEMU and libvirt, is in tests/integration/e2e_postcopy_*. */
#include "postcopy.h"
#include "sockfacts.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#include "log.h"
#include "util.h"

#include "mgcheck.h"
#include "mgloop.h"
#include "mgsink.h"
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static struct {
	unsigned pauses, resumes, incidents;
	int pause_result, resume_result;
	char dconnuri[256], migrate_uri[256], listen[64];
	unsigned long flags;
} seen;

static int stub_pause(virDomainPtr dom, char *err, size_t size)
{
	__atomic_add_fetch(&seen.pauses, 1, __ATOMIC_SEQ_CST);
	snprintf(err, size, "stub pause");
	return seen.pause_result;
}

static int stub_resume(virDomainPtr dom, const char *dconnuri, const char *migrate_uri, const char *listen_address,
		       unsigned long flags, char *err, size_t size)
{
	snprintf(seen.dconnuri, sizeof(seen.dconnuri), "%s", dconnuri);
	snprintf(seen.migrate_uri, sizeof(seen.migrate_uri), "%s", migrate_uri);
	snprintf(seen.listen, sizeof(seen.listen), "%s", listen_address);
	seen.flags = flags;
	__atomic_add_fetch(&seen.resumes, 1, __ATOMIC_SEQ_CST);
	snprintf(err, size, "stub resume");
	return seen.resume_result;
}

static const struct mg_postcopy_ops stub_ops = { .pause = stub_pause, .resume = stub_resume };

static struct mg_incwriter *open_incident(struct mg_postcopy *pc, const char *summary, void *userdata)
{
	seen.incidents++;
	ck_assert_ptr_nonnull(strstr(summary, "neither side is destroyed"));
	return NULL;
}

static const struct mg_postcopy_callbacks callbacks = { .open_incident = open_incident };

static sd_event *loop;
static struct mg_worker_pool *pool;
static struct mg_notify *notify;
static struct mg_test_sink sink;
static struct mg_watch *w;
static struct mg_postcopy *pc;
static pid_t child;

static void setup(void)
{
	memset(&seen, 0, sizeof(seen));
	memset(&sink, 0, sizeof(sink));
	mg_log_setup(MG_LOG_STDERR, LOG_WARNING, "test");
	ck_assert_int_eq(sd_event_new(&loop), 0);
	ck_assert_int_eq(mg_worker_pool_new(loop, 1, 0, &pool), 0);
	ck_assert_int_eq(mg_notify_new(&notify), 0);
	mg_test_sink_register(notify, &sink, "test");
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		pause();
		_exit(0);
	}
}

static void teardown(void)
{
	mg_postcopy_free(pc);
	pc = NULL;
	mg_watch_free(w);
	w = NULL;
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	mg_worker_pool_free(pool);
	mg_notify_free(notify);
	sd_event_unref(loop);
}

static void start(enum mg_direction dir, enum mg_pc_action action, uint64_t stall_ms, const char *resume_uri)
{
	struct mg_watch_params wp = {
		.name = "pc-vm", .uuid = "00000000-0000-4000-8000-0000000000aa", .pid = child,
		.probe_interval = 20 * MG_USEC_PER_MSEC,
		.limits = { 10 * MG_USEC_PER_SEC, MG_USEC_PER_SEC, 60 * MG_USEC_PER_SEC },
	};
	struct mg_postcopy_params p = {
		.pool = pool, .notify = notify, .action = action, .probe_interval = 20 * MG_USEC_PER_MSEC,
		.stall_timeout = stall_ms * MG_USEC_PER_MSEC, .step_timeout = MG_USEC_PER_SEC,
		.resume_uri = resume_uri, .resume_migrate_uri = "tcp://%a:49700",
		.resume_listen_address = "127.0.0.1", .resume_interval = 30 * MG_USEC_PER_MSEC,
		.resume_tries = 3, .job_flags = VIR_MIGRATE_LIVE | VIR_MIGRATE_PERSIST_DEST, .has_job_flags = true,
		.peer_address = "127.0.0.2", .ops = &stub_ops,
	};

	ck_assert_int_eq(mg_watch_new(loop, &wp, NULL, NULL, &w), 0);
	ck_assert_int_eq(mg_watch_track(w, dir, "test"), 0);
	p.watch = w;
	ck_assert_int_eq(mg_postcopy_new(loop, &p, &callbacks, NULL, &pc), 0);
	mg_postcopy_on_status(pc, "postcopy-active", "test");
}

static void run_ms(unsigned ms)
{
	mg_test_run_until_cond(loop, NULL, NULL, ms);
}

static bool pauses_1(void *a) { return __atomic_load_n(&seen.pauses, __ATOMIC_SEQ_CST) >= 1; }
static bool resumes_1(void *a) { return __atomic_load_n(&seen.resumes, __ATOMIC_SEQ_CST) >= 1; }
static bool resumes_2(void *a) { return __atomic_load_n(&seen.resumes, __ATOMIC_SEQ_CST) >= 2; }
static bool resumes_3(void *a) { return __atomic_load_n(&seen.resumes, __ATOMIC_SEQ_CST) >= 3; }
static bool idle(void *a) { return !mg_postcopy_busy(pc); }

/* The events of one step, in order of dispatch. */
static unsigned count_steps(const char *step, int result)
{
	unsigned n = 0;

	for (size_t i = 0; i < sink.n && i < MG_TEST_SINK_MAX; i++)
		n += strcmp(sink.events[i].step, step) == 0 && sink.events[i].e.ev.result == result;
	return n;
}

START_TEST(test_a_stalled_source_is_paused_then_resumed_with_its_own_flags)
{
	start(MG_DIR_OUT, MG_PC_RECOVER, 150, "qemu+tcp://%a/system");
	ck_assert_msg(mg_test_run_until_cond(loop, pauses_1, NULL, 3000), "no pause after the stall");
	ck_assert_uint_eq(seen.incidents, 1);
	ck_assert_uint_eq(mg_postcopy_breaks(pc), 1);
	ck_assert(mg_postcopy_broken(pc));
	ck_assert(mg_test_run_until_cond(loop, idle, NULL, 2000));
	/* Not paused yet: no resume. */
	ck_assert_uint_eq(seen.resumes, 0);
	mg_postcopy_on_status(pc, "postcopy-paused", "test event");
	ck_assert_msg(mg_test_run_until_cond(loop, resumes_1, NULL, 3000), "no resume once paused");
	ck_assert_str_eq(seen.dconnuri, "qemu+tcp://127.0.0.2/system");
	ck_assert_str_eq(seen.migrate_uri, "tcp://127.0.0.2:49700");
	ck_assert_str_eq(seen.listen, "127.0.0.1");
	ck_assert(seen.flags & VIR_MIGRATE_PERSIST_DEST);
	ck_assert(seen.flags & VIR_MIGRATE_POSTCOPY_RESUME);
	ck_assert(seen.flags & VIR_MIGRATE_POSTCOPY);
	ck_assert(seen.flags & VIR_MIGRATE_PEER2PEER);
	mg_postcopy_on_status(pc, "postcopy-recover", "test event");
	mg_postcopy_on_status(pc, "postcopy-active", "test event");
	ck_assert(!mg_postcopy_broken(pc));
	ck_assert_uint_eq(count_steps(MG_POSTCOPY_STEP_BREAK, 0), 1);
	ck_assert_uint_eq(count_steps(MG_POSTCOPY_STEP_PAUSE, 0), 1);
	/* The try, its start and the break closed. */
	ck_assert_uint_ge(count_steps(MG_POSTCOPY_STEP_RESUME, 0), 2);
	ck_assert_uint_eq(seen.pauses, 1);
}
END_TEST

/* A second break of the same migration is a second incident, resumed too. */
START_TEST(test_a_second_break_is_recovered_too)
{
	start(MG_DIR_OUT, MG_PC_RECOVER, 60000, "qemu+unix:///system?socket=/x/%n");
	mg_postcopy_on_status(pc, "postcopy-paused", "test event");
	ck_assert(mg_test_run_until_cond(loop, resumes_1, NULL, 3000));
	ck_assert(mg_test_run_until_cond(loop, idle, NULL, 2000));
	ck_assert_str_eq(seen.dconnuri, "qemu+unix:///system?socket=/x/pc-vm");
	mg_postcopy_on_status(pc, "postcopy-active", "test event");
	/* libvirt's late word on the first break, QEMU running: no break. */
	mg_postcopy_on_failed(pc, "libvirt: suspended (postcopy-failed)");
	ck_assert_uint_eq(mg_postcopy_breaks(pc), 1);
	ck_assert(!mg_postcopy_broken(pc));
	mg_postcopy_on_status(pc, "postcopy-paused", "test event");
	ck_assert_uint_eq(mg_postcopy_breaks(pc), 2);
	ck_assert_uint_eq(seen.incidents, 2);
	ck_assert(mg_test_run_until_cond(loop, resumes_2, NULL, 3000));
	/* Paused by the link itself: nothing to pause. */
	ck_assert_uint_eq(seen.pauses, 0);
}
END_TEST

START_TEST(test_failed_resumes_are_bounded_and_both_sides_stay_paused)
{
	seen.resume_result = -EIO;
	start(MG_DIR_OUT, MG_PC_RECOVER, 60000, "qemu+tcp://dst/system");
	mg_postcopy_on_status(pc, "postcopy-paused", "test event");
	ck_assert(mg_test_run_until_cond(loop, resumes_3, NULL, 3000));
	run_ms(300);
	ck_assert_uint_eq(seen.resumes, 3);
	ck_assert_uint_eq(count_steps(MG_POSTCOPY_STEP_RESUME, -EIO), 3);
	ck_assert_uint_eq(count_steps(MG_POSTCOPY_STEP_RESUME, -ETIMEDOUT), 1);
	ck_assert(mg_postcopy_broken(pc));
}
END_TEST

START_TEST(test_pause_keeps_both_sides_paused_without_resuming)
{
	start(MG_DIR_OUT, MG_PC_PAUSE, 150, "qemu+tcp://dst/system");
	ck_assert(mg_test_run_until_cond(loop, pauses_1, NULL, 3000));
	mg_postcopy_on_status(pc, "postcopy-paused", "test event");
	run_ms(200);
	ck_assert_uint_eq(seen.resumes, 0);
	ck_assert_uint_eq(seen.pauses, 1);
	ck_assert(mg_postcopy_broken(pc));
}
END_TEST

START_TEST(test_action_none_records_and_touches_nothing)
{
	start(MG_DIR_OUT, MG_PC_NONE, 100, "qemu+tcp://dst/system");
	run_ms(400);
	ck_assert_uint_eq(mg_postcopy_breaks(pc), 1);
	ck_assert_uint_eq(seen.incidents, 1);
	mg_postcopy_on_status(pc, "postcopy-paused", "test event");
	run_ms(100);
	ck_assert_uint_eq(seen.pauses, 0);
	ck_assert_uint_eq(seen.resumes, 0);
	ck_assert_uint_eq(count_steps(MG_POSTCOPY_STEP_BREAK, 0), 1);
}
END_TEST

/* libvirt resumes from the source: the destination pauses its own side on
 * a stall but never starts a migration. */
START_TEST(test_the_destination_pauses_but_never_resumes)
{
	start(MG_DIR_IN, MG_PC_RECOVER, 150, "qemu+tcp://src/system");
	ck_assert(mg_test_run_until_cond(loop, pauses_1, NULL, 3000));
	mg_postcopy_on_status(pc, "postcopy-paused", "test event");
	run_ms(200);
	ck_assert_uint_eq(seen.resumes, 0);
}
END_TEST

START_TEST(test_without_a_resume_uri_the_guard_says_so_and_keeps_the_pause)
{
	start(MG_DIR_OUT, MG_PC_RECOVER, 60000, "");
	mg_postcopy_on_status(pc, "postcopy-paused", "test event");
	run_ms(150);
	ck_assert_uint_eq(seen.resumes, 0);
	ck_assert_uint_eq(count_steps(MG_POSTCOPY_STEP_RESUME, -EDESTADDRREQ), 1);
}
END_TEST

START_TEST(test_a_qemu_gone_in_post_copy_is_recorded_as_lost_and_nothing_is_called)
{
	start(MG_DIR_OUT, MG_PC_RECOVER, 60000, "qemu+tcp://dst/system");
	mg_postcopy_on_qemu_gone(pc, "libvirt: stopped (destroyed)");
	run_ms(150);
	ck_assert_uint_eq(count_steps(MG_POSTCOPY_STEP_LOST, -ESRCH), 1);
	ck_assert_uint_eq(seen.incidents, 1);
	ck_assert_uint_eq(seen.pauses, 0);
	ck_assert_uint_eq(seen.resumes, 0);
	ck_assert(!mg_postcopy_broken(pc));
}
END_TEST

/* A listener on addr (loopback), a connection to it and its accepted end,
 * all in this process; returns the port. */
static unsigned tcp_pair(const char *addr, int *l, int *c, int *s)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);

	a.sin_addr.s_addr = inet_addr(addr);
	*l = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(*l, 0);
	ck_assert_int_eq(bind(*l, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(*l, 1), 0);
	ck_assert_int_eq(getsockname(*l, (struct sockaddr *)&a, &len), 0);
	*c = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(*c, (struct sockaddr *)&a, sizeof(a)), 0);
	*s = accept(*l, NULL, NULL);
	ck_assert_int_ge(*s, 0);
	return ntohs(a.sin_port);
}

/* The destination's address is the peer of the connection this process
 * opened, not of the one it accepted (a listener of its own), and not an
 * NBD server's. */
START_TEST(test_the_migration_peer_is_the_outgoing_connection_that_is_not_storage)
{
	struct mg_nbd_server nbd = { .is_unix = false, .host = "127.0.0.3" };
	char peer[64] = "", port[16];
	int l, c, s;
	unsigned p = tcp_pair("127.0.0.3", &l, &c, &s);

	ck_assert_int_eq(mg_postcopy_migration_peer(getpid(), NULL, 0, peer, sizeof(peer)), 0);
	ck_assert_str_eq(peer, "127.0.0.3");
	snprintf(port, sizeof(port), "%u", p);
	snprintf(nbd.port, sizeof(nbd.port), "%s", port);
	ck_assert_int_eq(mg_postcopy_migration_peer(getpid(), &nbd, 1, peer, sizeof(peer)), -ENOENT);
	close(s);
	close(c);
	close(l);
}
END_TEST

/* QEMU's channels send with sendmsg(2), which /proc/PID/io does not count:
 * the traffic measure sees it through TCP_INFO on a duplicate. */
START_TEST(test_traffic_sent_with_sendmsg_counts_as_progress)
{
	static char buf[128 * 1024];
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	uint64_t before, after;
	ssize_t got = 0;
	int l, c, s, pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);

	ck_assert_int_ge(pidfd, 0);
	tcp_pair("127.0.0.4", &l, &c, &s);
	ck_assert_int_eq(mg_postcopy_traffic(getpid(), pidfd, NULL, 0, &before), 0);
	ck_assert_int_eq(sendmsg(c, &mh, 0), (ssize_t)sizeof(buf));
	while (got < (ssize_t)sizeof(buf)) {
		ssize_t n = recvmsg(s, &mh, 0);

		ck_assert_int_gt(n, 0);
		got += n;
	}
	ck_assert_int_eq(mg_postcopy_traffic(getpid(), pidfd, NULL, 0, &after), 0);
	/* Acknowledged on one end, received on the other: both ours here. */
	ck_assert_uint_ge(after - before, sizeof(buf));
	close(s);
	close(c);
	close(l);
	close(pidfd);
}
END_TEST

START_TEST(test_a_kernel_tcp_address_reads_as_text)
{
	char buf[64];

	ck_assert_int_eq(mg_sockfacts_tcp_host("0100007F:1F90", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "127.0.0.1");
	ck_assert_int_eq(mg_sockfacts_tcp_host("00000000000000000000000001000000:0016", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "::1");
	ck_assert_int_eq(mg_sockfacts_tcp_host("7F:1F90", buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(mg_sockfacts_tcp_host("0100007G:1F90", buf, sizeof(buf)), -EINVAL);
}
END_TEST

static Suite *postcopy_suite(void)
{
	Suite *s = suite_create("postcopy");
	TCase *tc = tcase_create("break");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_a_stalled_source_is_paused_then_resumed_with_its_own_flags);
	tcase_add_test(tc, test_a_second_break_is_recovered_too);
	tcase_add_test(tc, test_failed_resumes_are_bounded_and_both_sides_stay_paused);
	tcase_add_test(tc, test_pause_keeps_both_sides_paused_without_resuming);
	tcase_add_test(tc, test_action_none_records_and_touches_nothing);
	tcase_add_test(tc, test_the_destination_pauses_but_never_resumes);
	tcase_add_test(tc, test_without_a_resume_uri_the_guard_says_so_and_keeps_the_pause);
	tcase_add_test(tc, test_a_qemu_gone_in_post_copy_is_recorded_as_lost_and_nothing_is_called);
	suite_add_tcase(s, tc);
	tc = tcase_create("peer");
	tcase_add_test(tc, test_the_migration_peer_is_the_outgoing_connection_that_is_not_storage);
	tcase_add_test(tc, test_a_kernel_tcp_address_reads_as_text);
	tcase_add_test(tc, test_traffic_sent_with_sendmsg_counts_as_progress);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return mg_check_run(postcopy_suite());
}
