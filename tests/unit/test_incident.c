/* Unit tests of the incident store (incident.c): layout, modes, atomic
 * action updates, retention, secret redaction, unwritable state dirs. */
#include "incident.h"
#include "log.h"
#include "util.h"

#include "mgcheck.h"
#include <errno.h>
#include <dirent.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>

static char state[256];

static void setup(void)
{
	mg_test_mkdtemp(state, sizeof(state), "incident");
	mg_log_setup(MG_LOG_STDERR, LOG_WARNING, "test");
}

static void teardown(void)
{
	mg_test_rm_rf(state);
}

static void make_track(struct mg_track *t)
{
	static const struct mg_track_limits lim = { .finish_timeout = 3000000, .monitor_timeout = 1000000 };
	struct mg_probe_sample s = { .status_valid = true };
	uint64_t now = mg_now_mono();

	mg_track_init(t, MG_DIR_OUT, &lim, now - 5000000, "test");
	strcpy(s.run_state, "finish-migrate");
	s.at = now - 4000000;
	mg_track_on_sample(t, &s);
	s.at = now;
	mg_track_on_sample(t, &s);
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

START_TEST(test_secrets_are_redacted_in_both_syntaxes)
{
	char a[] = "qemu -vnc 0:1,password=hunter2 -drive file=x,secret=abc,cache=none";
	char b[] = "-object {\"qom-type\":\"secret\",\"id\":\"s0\",\"data\":\"c2VjcmV0\",\"format\":\"base64\"}";
	char c[] = "-object secret,id=sec0,data=QUJD,format=base64 -m 128 -name data=keep";

	mg_incident_redact(a, sizeof(a));
	ck_assert_str_eq(a, "qemu -vnc 0:1,password=*** -drive file=x,secret=***,cache=none");
	mg_incident_redact(b, sizeof(b));
	ck_assert_str_eq(b, "-object {\"qom-type\":\"secret\",\"id\":\"s0\",\"data\":\"***\",\"format\":\"base64\"}");
	mg_incident_redact(c, sizeof(c));
	ck_assert(strstr(c, "QUJD") == NULL);
	ck_assert(strstr(c, "data=***,format=base64") != NULL);
}
END_TEST

START_TEST(test_incident_dir_has_report_stacks_context_with_private_modes)
{
	struct mg_track t;
	struct mg_incident_input in = {
		.domain = "web/01", .uuid = "0123456789abcdef", .pid = getpid(), .direction = MG_DIR_OUT,
		.track = &t, .stacks_text = "Thread 1 (LWP 1):\n", .summary = "it hung",
		.snapshot_error = "test: no snapshot",
	};
	_cleanup_free_ char *dir = NULL;
	char path[512];
	struct stat st;
	json_object *r, *v;

	make_track(&t);
	ck_assert_int_eq(mg_incident_write(state, &in, &dir), 0);
	ck_assert(strstr(dir, "-web_01-01234567") != NULL);
	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0700);
	snprintf(path, sizeof(path), "%s/report.json", dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	r = json_object_from_file(path);
	ck_assert_ptr_nonnull(r);
	ck_assert(json_object_object_get_ex(r, "schema", &v));
	ck_assert_str_eq(json_object_get_string(v), MG_INCIDENT_SCHEMA);
	ck_assert(json_object_object_get_ex(r, "verdict", &v));
	ck_assert_str_eq(json_object_get_string(v), "hung");
	ck_assert(json_object_object_get_ex(r, "timeline", &v));
	ck_assert_int_ge(json_object_array_length(v), 3);
	json_object_put(r);
	snprintf(path, sizeof(path), "%s/stacks.txt", dir);
	ck_assert_int_eq(access(path, R_OK), 0);
	snprintf(path, sizeof(path), "%s/context/cmdline.txt", dir);
	ck_assert_int_eq(access(path, R_OK), 0);
	/* No temporary directory is left behind. */
	snprintf(path, sizeof(path), "%s/incidents", state);
	ck_assert_int_eq(count_entries(path), 1);
}
END_TEST

START_TEST(test_actions_are_appended_to_the_report)
{
	struct mg_track t;
	struct mg_incident_input in = { .domain = "d", .pid = getpid(), .track = &t };
	_cleanup_free_ char *dir = NULL;
	char path[512];
	json_object *r, *a;

	make_track(&t);
	ck_assert_int_eq(mg_incident_write(state, &in, &dir), 0);
	ck_assert_int_eq(mg_incident_add_action(dir, "cancel", -ETIMEDOUT, "no answer in 5 s"), 0);
	ck_assert_int_eq(mg_incident_add_action(dir, "kill", 0, "SIGKILL sent"), 0);
	snprintf(path, sizeof(path), "%s/report.json", dir);
	r = json_object_from_file(path);
	ck_assert(json_object_object_get_ex(r, "actions", &a));
	ck_assert_int_eq(json_object_array_length(a), 2);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(json_object_array_get_idx(a, 0), "step")), "cancel");
	ck_assert_str_eq(json_object_get_string(json_object_object_get(json_object_array_get_idx(a, 1), "result")), "ok");
	json_object_put(r);
}
END_TEST

START_TEST(test_retention_keeps_the_newest_max_count)
{
	char base[300], path[400];

	snprintf(base, sizeof(base), "%s/incidents", state);
	ck_assert_int_eq(mkdir(base, 0700), 0);
	for (int i = 0; i < 5; i++) {
		snprintf(path, sizeof(path), "%s/2026010%dT000000Z-d-00000000", base, i + 1);
		ck_assert_int_eq(mkdir(path, 0700), 0);
	}
	ck_assert_int_eq(mg_incident_prune(state, 2, UINT64_MAX / 2, NULL), 3);
	ck_assert_int_eq(count_entries(base), 2);
	snprintf(path, sizeof(path), "%s/20260105T000000Z-d-00000000", base);
	ck_assert_int_eq(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/20260101T000000Z-d-00000000", base);
	ck_assert_int_ne(access(path, F_OK), 0);
}
END_TEST

START_TEST(test_unwritable_state_dir_is_an_error_not_a_crash)
{
	struct mg_track t;
	struct mg_incident_input in = { .domain = "d", .pid = getpid(), .track = &t };
	char file[300];
	FILE *f;

	make_track(&t);
	snprintf(file, sizeof(file), "%s/not-a-dir", state);
	f = fopen(file, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_lt(mg_incident_write(file, &in, NULL), 0);
}
END_TEST

/* A command line that fills the read buffer and has a secret shorter than
 * "***" (libvirt's -object secret makes "data=" a key too): the redaction
 * must stay inside the buffer.  The bytes after it are a canary. */
START_TEST(test_redaction_of_a_full_cmdline_stays_in_its_buffer)
{
	enum { SIZE = 4096, CANARY = 64 };
	char pad[SIZE], cmd[64];
	_cleanup_free_ char *buf = malloc(SIZE + CANARY);
	char *argv[] = { "/bin/sh", "-c", "read x", "sh", pad, "key=a", "-object", "secret,data=b", NULL };
	int in[2];
	pid_t pid;

	ck_assert_ptr_nonnull(buf);
	memset(pad, 'x', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	/* "key=a" lands inside the buffer, the rest is cut off. */
	pad[SIZE - 200] = '\0';
	ck_assert_int_eq(pipe(in), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(in[0], 0);
		close(in[1]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(in[0]);
	/* Wait for the exec: the cmdline is then sh's. */
	for (int i = 0; i < 500; i++) {
		snprintf(cmd, sizeof(cmd), "/proc/%d/cmdline", (int)pid);
		if (mg_read_file(cmd, buf, 64) > 0 && strcmp(buf, "/bin/sh") == 0)
			break;
		usleep(10000);
	}
	for (size_t tail = 0; tail < 200; tail++) {
		memset(buf, 0, SIZE);
		memset(buf + SIZE - tail, 0x5a, CANARY + tail);
		ck_assert_int_eq(mg_incident_read_cmdline(pid, buf, SIZE - tail), 0);
		for (size_t i = SIZE - tail; i < SIZE + CANARY; i++)
			ck_assert_msg(buf[i] == 0x5a, "byte %zu past a buffer of %zu written", i - (SIZE - tail),
				      (size_t)(SIZE - tail));
		ck_assert(strstr(buf, "key=a") == NULL);
	}
	close(in[1]);
	waitpid(pid, NULL, 0);
}
END_TEST

START_TEST(test_redaction_of_short_values_at_the_buffer_end)
{
	char a[] = "x password=a";
	char b[] = "x password=ab,key=c";

	mg_incident_redact(a, sizeof(a));
	ck_assert_str_eq(a, "x password=*");
	mg_incident_redact(b, sizeof(b));
	ck_assert_str_eq(b, "x password=***,key=");
}
END_TEST

/* After the clock steps back, the incidents written before the step have
 * an mtime in the future: they are the newest, and stay. */
START_TEST(test_retention_keeps_incidents_dated_after_now)
{
	char base[300], path[400];
	struct timeval tv[2];

	snprintf(base, sizeof(base), "%s/incidents", state);
	ck_assert_int_eq(mkdir(base, 0700), 0);
	snprintf(path, sizeof(path), "%s/20270101T000000Z-d-00000000", base);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	gettimeofday(&tv[0], NULL);
	tv[0].tv_sec += 86400;
	tv[1] = tv[0];
	ck_assert_int_eq(utimes(path, tv), 0);
	ck_assert_int_eq(mg_incident_prune(state, 10, 3600 * MG_USEC_PER_SEC, NULL), 0);
	ck_assert_int_eq(access(path, F_OK), 0);
}
END_TEST

/* report.json is a file anyone with access may have edited: an "actions"
 * member of another type is replaced, json-c is never asked to append to
 * it (it aborts). */
START_TEST(test_action_on_a_report_whose_actions_is_not_an_array)
{
	static const char *const bad[] = { "{\"actions\": 5}", "{\"actions\": {\"a\": 1}}",
					   "{\"actions\": null}", "[1, 2]", "\"text\"" };
	char dir[300], path[400];

	snprintf(dir, sizeof(dir), "%s/inc", state);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/report.json", dir);
	for (size_t i = 0; i < MG_ARRAY_SIZE(bad); i++) {
		FILE *f = fopen(path, "w");
		json_object *r, *a;
		int rc;

		ck_assert_ptr_nonnull(f);
		fputs(bad[i], f);
		fclose(f);
		rc = mg_incident_add_action(dir, "cancel", 0, "x");
		if (bad[i][0] != '{') {
			ck_assert_int_lt(rc, 0);
			continue;
		}
		ck_assert_int_eq(rc, 0);
		r = json_object_from_file(path);
		ck_assert(json_object_object_get_ex(r, "actions", &a));
		ck_assert(json_object_is_type(a, json_type_array));
		ck_assert_int_eq(json_object_array_length(a), 1);
		json_object_put(r);
	}
}
END_TEST

/* A guard killed mid-write leaves .tmp-NAME-PID: at the next start it
 * becomes a visible NAME-partial incident (listed, pruned, shown), its
 * report.json marked partial; a write still in progress (live writer) is
 * left alone. */
START_TEST(test_half_written_incident_is_kept_as_partial_at_start)
{
	char base[300], path[600];
	char **names;
	size_t n;
	pid_t dead = mg_test_dead_pid();
	json_object *r, *v;
	FILE *f;

	snprintf(base, sizeof(base), "%s/incidents", state);
	ck_assert_int_eq(mkdir(base, 0700), 0);
	snprintf(path, sizeof(path), "%s/.tmp-20260101T000000Z-web-01234567-%d", base, (int)dead);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/.tmp-20260101T000000Z-web-01234567-%d/report.json", base, (int)dead);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("{\"domain\": \"web\", \"verdict\": \"hung\", \"actions\": []}", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/.tmp-20260102T000000Z-db-nouuid-%d", base, (int)dead);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/.tmp-20260103T000000Z-live-nouuid-%d", base, (int)getppid());
	ck_assert_int_eq(mkdir(path, 0700), 0);

	ck_assert_int_eq(mg_incident_recover(state), 2);
	ck_assert_int_eq(mg_incident_list(base, &names, &n), 0);
	ck_assert_int_eq(n, 2);
	ck_assert_str_eq(names[0], "20260101T000000Z-web-01234567-partial");
	ck_assert_str_eq(names[1], "20260102T000000Z-db-nouuid-partial");
	snprintf(path, sizeof(path), "%s/%s/report.json", base, names[0]);
	r = json_object_from_file(path);
	ck_assert(json_object_object_get_ex(r, "partial", &v) && json_object_get_boolean(v));
	ck_assert(json_object_object_get_ex(r, "verdict", &v));
	ck_assert_str_eq(json_object_get_string(v), "hung");
	json_object_put(r);
	snprintf(path, sizeof(path), "%s/%s/report.json", base, names[1]);
	r = json_object_from_file(path);
	ck_assert_ptr_nonnull(r);
	ck_assert(json_object_object_get_ex(r, "partial", &v) && json_object_get_boolean(v));
	json_object_put(r);
	mg_incident_list_free(names, n);
	/* The one whose writer runs is not touched. */
	ck_assert_int_eq(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/.tmp-20260103T000000Z-live-nouuid-%d", base, (int)getppid());
	ck_assert_int_eq(access(path, F_OK), 0);
	ck_assert_int_eq(mg_incident_prune(state, 0, UINT64_MAX / 2, NULL), 2);
}
END_TEST

/* After a clock step back the incident just written is named earlier
 * than those written before the step: retention by count removes one of
 * those, not the new one. */
START_TEST(test_retention_by_count_keeps_the_incident_just_written)
{
	struct mg_track t;
	struct mg_incident_input in = { .domain = "d", .pid = getpid(), .track = &t };
	_cleanup_free_ char *dir = NULL;
	char base[300], path[400];

	make_track(&t);
	snprintf(base, sizeof(base), "%s/incidents", state);
	ck_assert_int_eq(mkdir(base, 0700), 0);
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/2099010%dT000000Z-d-00000000", base, i + 1);
		ck_assert_int_eq(mkdir(path, 0700), 0);
	}
	ck_assert_int_eq(mg_incident_write(state, &in, &dir), 0);
	ck_assert_int_eq(mg_incident_prune(state, 2, UINT64_MAX / 2, strrchr(dir, '/') + 1), 1);
	ck_assert_int_eq(access(dir, F_OK), 0);
	snprintf(path, sizeof(path), "%s/20990101T000000Z-d-00000000", base);
	ck_assert_int_ne(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/20990102T000000Z-d-00000000", base);
	ck_assert_int_eq(access(path, F_OK), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("incident");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_secrets_are_redacted_in_both_syntaxes);
	tcase_add_test(tc, test_incident_dir_has_report_stacks_context_with_private_modes);
	tcase_add_test(tc, test_actions_are_appended_to_the_report);
	tcase_add_test(tc, test_retention_keeps_the_newest_max_count);
	tcase_add_test(tc, test_unwritable_state_dir_is_an_error_not_a_crash);
	tcase_add_test(tc, test_redaction_of_a_full_cmdline_stays_in_its_buffer);
	tcase_add_test(tc, test_redaction_of_short_values_at_the_buffer_end);
	tcase_add_test(tc, test_retention_keeps_incidents_dated_after_now);
	tcase_add_test(tc, test_retention_by_count_keeps_the_incident_just_written);
	tcase_add_test(tc, test_action_on_a_report_whose_actions_is_not_an_array);
	tcase_add_test(tc, test_half_written_incident_is_kept_as_partial_at_start);
	suite_add_tcase(s, tc);
	return mg_check_run(s);
}
