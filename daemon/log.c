/* log.c - see log.h. */
#include "log.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

#define MG_LOG_MAX_FIELDS 24

static enum mg_log_target log_target = MG_LOG_STDERR;
static int log_max_level = LOG_INFO;
static const char *log_ident = "migguard";

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
	[LOG_ERR] = "err", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

/* systemd sets JOURNAL_STREAM=dev:ino for a service whose stderr is the
 * journal; only then is structured logging worth it. */
static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return st.st_dev == dev && st.st_ino == ino;
}

void mg_log_setup(enum mg_log_target target, int max_level, const char *ident)
{
	if (target == MG_LOG_AUTO)
		target = stderr_is_journal() ? MG_LOG_JOURNAL : MG_LOG_STDERR;
	log_target = target;
	log_max_level = max_level;
	if (ident)
		log_ident = ident;
}

void mg_log_set_max_level(int level) { log_max_level = level; }
int mg_log_get_max_level(void) { return log_max_level; }

int mg_log_level_from_string(const char *s)
{
	for (size_t i = 0; i < MG_ARRAY_SIZE(level_names); i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return (int)i;
	if (strcasecmp(s, "error") == 0)
		return LOG_ERR;
	if (strcasecmp(s, "warn") == 0)
		return LOG_WARNING;
	return -EINVAL;
}

const char *mg_log_level_to_string(int level)
{
	if (level < 0 || (size_t)level >= MG_ARRAY_SIZE(level_names))
		return "?";
	return level_names[level];
}

static void log_to_journal(int level, const char *message_id,
			   const struct mg_log_field *fields, size_t n, const char *msg)
{
	struct iovec iov[MG_LOG_MAX_FIELDS + 4];
	char *strs[MG_LOG_MAX_FIELDS + 4] = { 0 };
	size_t k = 0;

	if (n > MG_LOG_MAX_FIELDS)
		n = MG_LOG_MAX_FIELDS;
	if (asprintf(&strs[k], "MESSAGE=%s", msg) >= 0)
		k++;
	if (asprintf(&strs[k], "PRIORITY=%d", level) >= 0)
		k++;
	if (asprintf(&strs[k], "SYSLOG_IDENTIFIER=%s", log_ident) >= 0)
		k++;
	if (message_id && asprintf(&strs[k], "MESSAGE_ID=%s", message_id) >= 0)
		k++;
	for (size_t i = 0; i < n; i++)
		if (fields[i].value && asprintf(&strs[k], "%s=%s", fields[i].key, fields[i].value) >= 0)
			k++;
	for (size_t i = 0; i < k; i++)
		iov[i] = (struct iovec){ .iov_base = strs[i], .iov_len = strlen(strs[i]) };
	sd_journal_sendv(iov, (int)k);
	for (size_t i = 0; i < k; i++)
		free(strs[i]);
}

/* Foreground lines: "<level> message key=value ..." with the MIGGUARD_
 * prefix dropped and keys lower-cased, so tests and humans can grep them. */
static void log_to_stderr(int level, const struct mg_log_field *fields, size_t n,
			  const char *msg)
{
	char line[4096];
	size_t len;

	len = (size_t)snprintf(line, sizeof(line), "%s[%d]: <%s> %s", log_ident,
			       (int)getpid(), mg_log_level_to_string(level), msg);
	for (size_t i = 0; i < n && len < sizeof(line); i++) {
		const char *key = fields[i].key;
		char lkey[64];
		size_t j;

		if (!fields[i].value)
			continue;
		if (strncmp(key, "MIGGUARD_", 9) == 0)
			key += 9;
		for (j = 0; key[j] && j < sizeof(lkey) - 1; j++)
			lkey[j] = (char)((key[j] >= 'A' && key[j] <= 'Z') ? key[j] + 32 : key[j]);
		lkey[j] = '\0';
		len += (size_t)snprintf(line + len, sizeof(line) - len,
					strchr(fields[i].value, ' ') ? " %s=\"%s\"" : " %s=%s",
					lkey, fields[i].value);
	}
	if (len >= sizeof(line))
		len = sizeof(line) - 1;
	line[len] = '\n';
	fwrite(line, 1, len + 1, stderr);
	fflush(stderr);
}

int mg_log_full(int level, int err, const char *message_id,
		const struct mg_log_field *fields, size_t n_fields, const char *fmt, ...)
{
	int saved_errno = errno;
	int ret = err ? -abs(err) : 0;
	char msg[2048];
	va_list ap;
	size_t len;

	if (level > log_max_level)
		return ret;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	len = strlen(msg);
	if (err)
		snprintf(msg + len, sizeof(msg) - len, ": %s", strerror(abs(err)));
	if (log_target == MG_LOG_JOURNAL)
		log_to_journal(level, message_id, fields, n_fields, msg);
	else
		log_to_stderr(level, fields, n_fields, msg);
	errno = saved_errno;
	return ret;
}
