/* log.h - structured logging: journald (sd_journal_send) when stderr is the
 * journal, readable lines on stderr otherwise. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <syslog.h>

/* A structured field; key is a journald field name (e.g. "MIGGUARD_DOMAIN"). */
struct mg_log_field {
	const char *key;
	const char *value;
};

enum mg_log_target { MG_LOG_AUTO, MG_LOG_STDERR, MG_LOG_JOURNAL };

/* Chooses the target (AUTO: journal when $JOURNAL_STREAM names our stderr)
 * and the maximum level printed. */
void mg_log_setup(enum mg_log_target target, int max_level, const char *ident);
void mg_log_set_max_level(int level);
int mg_log_get_max_level(void);
/* Parses err|warning|notice|info|debug into a syslog level, or -EINVAL. */
int mg_log_level_from_string(const char *s);
const char *mg_log_level_to_string(int level);

/* Logs one message with fields (may be NULL/0).  Returns -|err| when err is
 * non-zero so callers can `return mg_log_errno(...)`; 0 otherwise. */
int mg_log_full(int level, int err, const char *message_id,
		const struct mg_log_field *fields, size_t n_fields,
		const char *fmt, ...) __attribute__((format(printf, 6, 7)));

#define mg_log(level, ...) mg_log_full((level), 0, NULL, NULL, 0, __VA_ARGS__)
#define mg_log_errno(level, err, ...) mg_log_full((level), (err), NULL, NULL, 0, __VA_ARGS__)
#define mg_error(...) mg_log(LOG_ERR, __VA_ARGS__)
#define mg_warn(...) mg_log(LOG_WARNING, __VA_ARGS__)
#define mg_notice(...) mg_log(LOG_NOTICE, __VA_ARGS__)
#define mg_info(...) mg_log(LOG_INFO, __VA_ARGS__)
#define mg_debug(...) mg_log(LOG_DEBUG, __VA_ARGS__)
/* err is a negative or positive errno; "%m"-style text is appended. */
#define mg_error_errno(err, ...) mg_log_errno(LOG_ERR, (err), __VA_ARGS__)
#define mg_warn_errno(err, ...) mg_log_errno(LOG_WARNING, (err), __VA_ARGS__)
