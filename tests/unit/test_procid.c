/* Unit tests of procid.c on real child processes. */
#include "procid.h"
#include "util.h"

#include "mgcheck.h"
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>

static pid_t spawn_sleeper(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		pause();
		_exit(0);
	}
	return pid;
}

START_TEST(test_signal_reaches_the_captured_process)
{
	struct mg_procid id;
	pid_t pid = spawn_sleeper();
	int status;

	ck_assert_int_eq(mg_procid_capture(pid, &id), 0);
	ck_assert_int_eq(mg_procid_verify(&id), 0);
	ck_assert(!mg_procid_exited(&id));
	ck_assert_int_eq(mg_procid_signal(&id, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	ck_assert(mg_procid_exited(&id));
	mg_procid_release(&id);
}
END_TEST

START_TEST(test_changed_start_time_refuses_to_signal)
{
	struct mg_procid id;
	pid_t pid = spawn_sleeper();
	int status;

	ck_assert_int_eq(mg_procid_capture(pid, &id), 0);
	/* What a recycled pid looks like: same number, another start time. */
	id.start_time += 1;
	ck_assert_int_eq(mg_procid_verify(&id), -ESTALE);
	ck_assert_int_eq(mg_procid_signal(&id, SIGKILL), -ESTALE);
	ck_assert_int_eq(waitpid(pid, &status, WNOHANG), 0);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	mg_procid_release(&id);
}
END_TEST

START_TEST(test_gone_process_is_esrch)
{
	struct mg_procid id;
	pid_t pid = spawn_sleeper();
	int status;

	ck_assert_int_eq(mg_procid_capture(pid, &id), 0);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	ck_assert_int_eq(mg_procid_verify(&id), -ESRCH);
	ck_assert_int_eq(mg_procid_signal(&id, SIGTERM), -ESRCH);
	mg_procid_release(&id);
	ck_assert_int_eq(mg_procid_capture(pid, &id), -ESRCH);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("procid");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_signal_reaches_the_captured_process);
	tcase_add_test(tc, test_changed_start_time_refuses_to_signal);
	tcase_add_test(tc, test_gone_process_is_esrch);
	suite_add_tcase(s, tc);
	return mg_check_run(s);
}
