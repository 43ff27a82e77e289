/* util.h - small helpers shared by every module: cleanup attributes, time,
 * bounded file reads. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define MG_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MG_USEC_PER_SEC UINT64_C(1000000)
#define MG_USEC_PER_MSEC UINT64_C(1000)

static inline void mg_freep(void *p) { free(*(void **)p); }
static inline void mg_closep(int *fd) { if (*fd >= 0) close(*fd); }
static inline void mg_fclosep(FILE **f) { if (*f) fclose(*f); }
#define _cleanup_free_ _cleanup_(mg_freep)
#define _cleanup_close_ _cleanup_(mg_closep)
#define _cleanup_fclose_ _cleanup_(mg_fclosep)

/* One table of names per enum (libvirt's VIR_ENUM_IMPL): the names are
 * given once, in the enum's order, and the count is checked against last
 * at build time, so a value added without a name does not compile.
 * MG_ENUM_DECL in the header, MG_ENUM_IMPL in one .c file, give
 *   const char *NAME_to_string(type v);  ("?" out of range, never NULL)
 *   int NAME_from_string(const char *s, type *out);  (0 or -EINVAL) */
#define MG_ENUM_DECL(name, type)					\
	const char *name##_to_string(type v);				\
	int name##_from_string(const char *s, type *out)
#define MG_ENUM_IMPL(name, type, last, ...)				\
	static const char *const name##_names[] = { __VA_ARGS__ };	\
	_Static_assert(MG_ARRAY_SIZE(name##_names) == (size_t)(last),	\
		       #name ": one name per value");			\
	const char *name##_to_string(type v)				\
	{								\
		return (size_t)v < MG_ARRAY_SIZE(name##_names) ? name##_names[v] : "?"; \
	}								\
	int name##_from_string(const char *s, type *out)		\
	{								\
		for (size_t i = 0; s && i < MG_ARRAY_SIZE(name##_names); i++) \
			if (strcmp(s, name##_names[i]) == 0) {		\
				*out = (type)i;				\
				return 0;				\
			}						\
		return -EINVAL;						\
	}

/* Returns the pointer and leaves NULL behind, to hand ownership out of a
 * _cleanup_ scope. */
#define MG_TAKE_PTR(p) ({ __typeof__(p) _p = (p); (p) = NULL; _p; })
#define MG_TAKE_FD(fd) ({ int _fd = (fd); (fd) = -1; _fd; })

/* Microseconds on CLOCK_MONOTONIC / CLOCK_REALTIME. */
uint64_t mg_now_mono(void);
uint64_t mg_now_real(void);

/* Reads at most size-1 bytes of path into buf, NUL-terminated; returns the
 * length or a negative errno.  Only a regular file is read (-EINVAL for
 * anything else); a FIFO does not block. */
ssize_t mg_read_file(const char *path, char *buf, size_t size);

/* Replaces path with data through a new hidden temporary file beside it
 * (.NAME.XXXXXX, created with O_EXCL at an unpredictable name, so nothing
 * planted in the directory is opened or followed) and rename(2): a reader
 * sees the old or the new content, never a part.  mode is set whatever the umask; durable fsyncs the data before
 * the rename.  0 or a negative errno (the temporary file is removed). */
int mg_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, bool durable);

/* Parses a duration ("250ms", "3s", "2m", "1h", "30d", bare number = seconds)
 * into microseconds; returns 0 or -EINVAL / -ERANGE. */
int mg_parse_duration(const char *s, uint64_t *usec);

/* Formats usec as the shortest exact duration string ("1500ms", "3s", "2m"). */
const char *mg_format_duration(uint64_t usec, char *buf, size_t size);
/* Formats usec as seconds with milliseconds ("1.250s", "0.000s"): one unit
 * for measured delays in log lines. */
const char *mg_format_seconds(uint64_t usec, char *buf, size_t size);

/* Parses yes/no/true/false/on/off/1/0; returns 0/1 or -EINVAL. */
int mg_parse_bool(const char *s);

/* strtoll with full-string and range checks; 0 or -EINVAL/-ERANGE. */
int mg_parse_int(const char *s, long long min, long long max, long long *out);

/* Formats a realtime usec as UTC "YYYY-MM-DDTHH:MM:SS.mmmZ". */
const char *mg_format_utc(uint64_t usec, char *buf, size_t size);
