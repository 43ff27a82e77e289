/* Unit tests of the ledger (ledger.c): what the guard did about a
 * migration survives its restart, and goes with the migration's QEMU. */
#include "ledger.h"
#include "log.h"
#include "util.h"

#include "mgcheck.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char state[256];

static void setup(void)
{
	mg_test_mkdtemp(state, sizeof(state), "ledger");
	mg_log_setup(MG_LOG_STDERR, LOG_WARNING, "test");
}

static void teardown(void)
{
	mg_test_rm_rf(state);
}

static size_t n_records(void)
{
	char cmd[400];
	FILE *f;
	size_t n = 0;
	int c;

	snprintf(cmd, sizeof(cmd), "ls '%s/acted' 2>/dev/null", state);
	f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	pclose(f);
	return n;
}

/* A new ledger (the guard restarted) finds what the old one recorded for
 * the same process, uuid and direction, and nothing for another. */
START_TEST(test_a_record_survives_a_restart_for_the_same_migration_only)
{
	struct mg_procid id = { .pidfd = -1 };
	struct mg_ledger_entry e = { .acted = true, .at = mg_now_real() };
	struct mg_ledger_key other;
	struct mg_ledger *l;
	const struct mg_ledger_entry *f;

	ck_assert_int_eq(mg_procid_capture(getpid(), &id), 0);
	mg_ledger_key_init(&e.key, &id, "0123-abcd", MG_DIR_OUT);
	snprintf(e.incident, sizeof(e.incident), "%s/incidents/x", state);
	ck_assert_int_eq(mg_ledger_write(state, &e), 0);

	ck_assert_int_eq(mg_ledger_open(state, &l), 0);
	f = mg_ledger_find(l, &e.key);
	ck_assert_ptr_nonnull(f);
	ck_assert(f->acted);
	ck_assert_str_eq(f->incident, e.incident);
	other = e.key;
	other.dir = MG_DIR_IN;
	ck_assert_ptr_null(mg_ledger_find(l, &other));
	other = e.key;
	other.start_time++;
	ck_assert_ptr_null(mg_ledger_find(l, &other));
	/* The migration ended: the record goes, from memory and disk. */
	mg_ledger_forget(l, &e.key, NULL);
	ck_assert_ptr_null(mg_ledger_find(l, &e.key));
	ck_assert_uint_eq(n_records(), 0);
	mg_ledger_free(l);
	mg_procid_release(&id);
}
END_TEST

/* Records of processes gone (or of a pid now another process) and files
 * that are not records are removed at load. */
START_TEST(test_records_of_gone_processes_and_garbage_are_dropped_at_load)
{
	struct mg_ledger_entry e = { .acted = true };
	struct mg_ledger *l;
	char path[400];
	pid_t pid = fork();
	FILE *f;

	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	e.key.pid = pid;
	e.key.start_time = 1;
	ck_assert_int_eq(mg_ledger_write(state, &e), 0);
	e.key.pid = getpid();		/* alive, but not with this start time */
	ck_assert_int_eq(mg_ledger_write(state, &e), 0);
	snprintf(path, sizeof(path), "%s/acted/junk.json", state);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("{\"pid\": \"x\", \"actions\": 5", f);
	fclose(f);
	ck_assert_uint_eq(n_records(), 3);
	ck_assert_int_eq(mg_ledger_open(state, &l), 0);
	ck_assert_uint_eq(n_records(), 0);
	ck_assert_ptr_null(mg_ledger_find(l, &e.key));
	mg_ledger_free(l);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ledger");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_a_record_survives_a_restart_for_the_same_migration_only);
	tcase_add_test(tc, test_records_of_gone_processes_and_garbage_are_dropped_at_load);
	suite_add_tcase(s, tc);
	return mg_check_run(s);
}
