/* Unit tests of metrics.c: the figures, fed as the sink is fed (events),
 * the text format, and the textfile written from a real sd-event loop. */
#include "metrics.h"
#include "util.h"

#include "mgcheck.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct mg_metrics *m;

static void setup(void)
{
	ck_assert_int_eq(mg_metrics_new(&m), 0);
}

static void teardown(void)
{
	m = mg_metrics_free(m);
}

static char *render(void)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	mg_metrics_render(m, f);
	fclose(f);
	return buf;
}

/* One plugin event as the watch, the ladder or the incident writer sends it. */
static void feed(enum migguard_event_kind kind, enum mg_direction dir, enum mg_phase phase, const char *step,
		 int result)
{
	struct mg_event e = mg_event_plugin(kind, "test");

	e.dir = dir;
	e.phase = phase;
	e.ev.step = step;
	e.ev.result = result;
	mg_metrics_on_event(m, &e);
}

static void connected(bool yes)
{
	struct mg_event e = mg_event_make(MG_EVENT_CONNECTION);

	e.connected = yes;
	mg_metrics_on_event(m, &e);
}

static void forgotten(enum mg_direction dir, bool tracking)
{
	struct mg_event e = mg_event_make(MG_EVENT_FORGOTTEN);

	e.dir = dir;
	e.tracking = tracking;
	mg_metrics_on_event(m, &e);
}

static void assert_line(const char *text, const char *line)
{
	char *want;

	ck_assert_int_ge(asprintf(&want, "\n%s\n", line), 0);
	ck_assert_msg(strstr(text, want), "no line \"%s\" in:\n%s", line, text);
	free(want);
}

START_TEST(test_a_hung_migration_and_its_ladder_are_counted)
{
	char *t;

	feed(MIGGUARD_EVENT_MIGRATION_STARTED, MG_DIR_OUT, MG_PHASE_ACTIVE, NULL, 0);
	feed(MIGGUARD_EVENT_MIGRATION_STARTED, MG_DIR_IN, MG_PHASE_ACTIVE, NULL, 0);
	feed(MIGGUARD_EVENT_PHASE_CHANGED, MG_DIR_OUT, MG_PHASE_FINISHING, NULL, 0);
	feed(MIGGUARD_EVENT_VERDICT, MG_DIR_OUT, MG_PHASE_HUNG, NULL, 0);
	feed(MIGGUARD_EVENT_INCIDENT_WRITTEN, MG_DIR_OUT, MG_PHASE_HUNG, NULL, 0);
	feed(MIGGUARD_EVENT_ACTION_DONE, MG_DIR_OUT, MG_PHASE_HUNG, "cancel", -ETIMEDOUT);
	feed(MIGGUARD_EVENT_ACTION_DONE, MG_DIR_OUT, MG_PHASE_HUNG, "kill", 0);
	feed(MIGGUARD_EVENT_ACTION_DONE, MG_DIR_OUT, MG_PHASE_HUNG, "kill-check", 0);
	feed(MIGGUARD_EVENT_MIGRATION_ENDED, MG_DIR_OUT, MG_PHASE_FAILED, NULL, 0);
	connected(true);
	t = render();
	assert_line(t, "migguard_migrations_tracked_total{direction=\"outgoing\"} 1");
	assert_line(t, "migguard_migrations_tracked_total{direction=\"incoming\"} 1");
	assert_line(t, "migguard_migrations_tracking{direction=\"outgoing\"} 0");
	assert_line(t, "migguard_migrations_tracking{direction=\"incoming\"} 1");
	assert_line(t, "migguard_migrations_ended_total{direction=\"outgoing\",result=\"failed\"} 1");
	assert_line(t, "migguard_migrations_ended_total{direction=\"outgoing\",result=\"completed\"} 0");
	assert_line(t, "migguard_migrations_hung_total 1");
	assert_line(t, "migguard_migrations_stalled_total 0");
	assert_line(t, "migguard_incidents_written_total 1");
	assert_line(t, "migguard_actions_total{step=\"cancel\",result=\"failed\"} 1");
	assert_line(t, "migguard_actions_total{step=\"kill\",result=\"ok\"} 1");
	assert_line(t, "migguard_libvirt_connected 1");
	free(t);
}
END_TEST

/* A watch freed while it tracks (its domain went away): no longer tracked,
 * not ended; one freed with nothing tracked changes nothing. */
START_TEST(test_a_forgotten_migration_is_no_longer_tracking)
{
	char *t;

	feed(MIGGUARD_EVENT_MIGRATION_STARTED, MG_DIR_IN, MG_PHASE_ACTIVE, NULL, 0);
	forgotten(MG_DIR_IN, true);
	forgotten(MG_DIR_IN, false);
	forgotten(MG_DIR_OUT, false);
	t = render();
	assert_line(t, "migguard_migrations_tracked_total{direction=\"incoming\"} 1");
	assert_line(t, "migguard_migrations_tracking{direction=\"incoming\"} 0");
	assert_line(t, "migguard_migrations_tracking{direction=\"outgoing\"} 0");
	assert_line(t, "migguard_migrations_ended_total{direction=\"incoming\",result=\"failed\"} 0");
	free(t);
}
END_TEST

START_TEST(test_every_sample_has_help_and_type)
{
	char *t, *save = NULL, *line;
	char last_type[128] = "";

	feed(MIGGUARD_EVENT_ACTION_DONE, MG_DIR_OUT, MG_PHASE_HUNG, "yank", 0);
	t = render();
	for (line = strtok_r(t, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[128];

		if (strncmp(line, "# TYPE ", 7) == 0) {
			ck_assert_int_eq(sscanf(line + 7, "%127s", last_type), 1);
			continue;
		}
		if (line[0] == '#')
			continue;
		ck_assert_int_eq(sscanf(line, "%127[^{ ]", name), 1);
		ck_assert_msg(strcmp(name, last_type) == 0, "sample %s under TYPE %s", name, last_type);
	}
	free(t);
}
END_TEST

static int run_once(sd_event *e)
{
	return sd_event_run(e, 0);
}

START_TEST(test_textfile_is_written_after_each_change_with_mode_0644)
{
	char dir[] = "/tmp/mgmetrics.XXXXXX", path[128], buf[8192];
	sd_event *e = NULL;
	struct stat st;
	mode_t old = umask(077);

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/migguard.prom", dir);
	ck_assert_int_ge(sd_event_new(&e), 0);
	ck_assert_int_eq(mg_metrics_set_textfile(m, e, path), 0);
	ck_assert_int_ge(run_once(e), 0);
	ck_assert_int_gt(mg_read_file(path, buf, sizeof(buf)), 0);
	ck_assert_ptr_nonnull(strstr(buf, "migguard_migrations_hung_total 0\n"));
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0644);

	feed(MIGGUARD_EVENT_VERDICT, MG_DIR_OUT, MG_PHASE_HUNG, NULL, 0);
	feed(MIGGUARD_EVENT_VERDICT, MG_DIR_OUT, MG_PHASE_HUNG, NULL, 0);
	ck_assert_int_ge(run_once(e), 0);
	ck_assert_int_gt(mg_read_file(path, buf, sizeof(buf)), 0);
	ck_assert_ptr_nonnull(strstr(buf, "migguard_migrations_hung_total 2\n"));
	mg_metrics_set_textfile(m, e, NULL);
	unlink(path);
	rmdir(dir);
	sd_event_unref(e);
	umask(old);
}
END_TEST

START_TEST(test_unwritable_textfile_is_survived_and_retried)
{
	char dir[] = "/tmp/mgmetrics.XXXXXX", sub[128], path[160], buf[8192];
	sd_event *e = NULL;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/later", dir);
	snprintf(path, sizeof(path), "%s/migguard.prom", sub);
	ck_assert_int_ge(sd_event_new(&e), 0);
	ck_assert_int_eq(mg_metrics_set_textfile(m, e, path), 0);
	ck_assert_int_ge(run_once(e), 0);
	ck_assert_int_eq(access(path, F_OK), -1);
	/* The directory appears (node_exporter installed later): the next
	 * change writes the file. */
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	feed(MIGGUARD_EVENT_INCIDENT_WRITTEN, MG_DIR_OUT, MG_PHASE_HUNG, NULL, -ENOSPC);
	ck_assert_int_ge(run_once(e), 0);
	ck_assert_int_gt(mg_read_file(path, buf, sizeof(buf)), 0);
	ck_assert_ptr_nonnull(strstr(buf, "migguard_incident_errors_total 1\n"));
	mg_metrics_set_textfile(m, e, NULL);
	unlink(path);
	rmdir(sub);
	rmdir(dir);
	sd_event_unref(e);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_a_hung_migration_and_its_ladder_are_counted);
	tcase_add_test(tc, test_a_forgotten_migration_is_no_longer_tracking);
	tcase_add_test(tc, test_every_sample_has_help_and_type);
	tcase_add_test(tc, test_textfile_is_written_after_each_change_with_mode_0644);
	tcase_add_test(tc, test_unwritable_textfile_is_survived_and_retried);
	suite_add_tcase(s, tc);
	return mg_check_run(s);
}
