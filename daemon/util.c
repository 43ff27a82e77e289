/* util.c - see util.h. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

static uint64_t now(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * MG_USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t mg_now_mono(void) { return now(CLOCK_MONOTONIC); }
uint64_t mg_now_real(void) { return now(CLOCK_REALTIME); }

ssize_t mg_read_file(const char *path, char *buf, size_t size)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	size_t len = 0;

	if (size == 0)
		return -EINVAL;
	/* O_NONBLOCK: a FIFO planted where a file is expected must not block
	 * the loop in open(); it is refused below. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	while (len < size - 1) {
		ssize_t n = read(fd, buf + len, size - 1 - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return (ssize_t)len;
}

int mg_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, bool durable)
{
	const char *slash = strrchr(path, '/');
	int dir_len = slash ? (int)(slash - path) : 0;
	_cleanup_close_ int fd = -1;
	char tmp[PATH_MAX];
	size_t off = 0;
	int r = 0;

	/* A fresh file at a name nobody can predict (mkostemp: O_CREAT|O_EXCL,
	 * 0600): whatever sits at a guessable name in a directory another user
	 * may write (node_exporter's textfile directory), a FIFO that would
	 * block open() forever or a symlink, is never opened.  A crash leaves
	 * .NAME.XXXXXX behind, which a *.prom reader ignores. */
	if (snprintf(tmp, sizeof(tmp), "%.*s%s.%s.XXXXXX", dir_len, path, slash ? "/" : "",
		     slash ? slash + 1 : path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, mode) < 0)
		r = -errno;
	while (r == 0 && off < len) {
		ssize_t w = write(fd, (const char *)data + off, len - off);

		if (w > 0)
			off += (size_t)w;
		else if (w == 0 || errno != EINTR)
			r = w == 0 ? -EIO : -errno;
	}
	if (r == 0 && durable && fsync(fd) < 0)
		r = -errno;
	if (close(MG_TAKE_FD(fd)) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

int mg_parse_duration(const char *s, uint64_t *usec)
{
	static const struct { const char *suffix; uint64_t mult; } units[] = {
		{ "us", 1 }, { "ms", MG_USEC_PER_MSEC }, { "s", MG_USEC_PER_SEC },
		{ "", MG_USEC_PER_SEC }, { "m", 60 * MG_USEC_PER_SEC },
		{ "min", 60 * MG_USEC_PER_SEC }, { "h", 3600 * MG_USEC_PER_SEC },
		{ "d", 86400 * MG_USEC_PER_SEC },
	};
	unsigned long long v;
	char *end;

	if (!s || !*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (end == s)
		return -EINVAL;
	while (*end == ' ')
		end++;
	for (size_t i = 0; i < MG_ARRAY_SIZE(units); i++) {
		if (strcmp(end, units[i].suffix) != 0)
			continue;
		if (v > UINT64_MAX / units[i].mult)
			return -ERANGE;
		*usec = v * units[i].mult;
		return 0;
	}
	return -EINVAL;
}

const char *mg_format_duration(uint64_t usec, char *buf, size_t size)
{
	if (usec % (86400 * MG_USEC_PER_SEC) == 0 && usec)
		snprintf(buf, size, "%llud", (unsigned long long)(usec / (86400 * MG_USEC_PER_SEC)));
	else if (usec % (3600 * MG_USEC_PER_SEC) == 0 && usec)
		snprintf(buf, size, "%lluh", (unsigned long long)(usec / (3600 * MG_USEC_PER_SEC)));
	else if (usec % (60 * MG_USEC_PER_SEC) == 0 && usec)
		snprintf(buf, size, "%llum", (unsigned long long)(usec / (60 * MG_USEC_PER_SEC)));
	else if (usec % MG_USEC_PER_SEC == 0)
		snprintf(buf, size, "%llus", (unsigned long long)(usec / MG_USEC_PER_SEC));
	else if (usec % MG_USEC_PER_MSEC == 0)
		snprintf(buf, size, "%llums", (unsigned long long)(usec / MG_USEC_PER_MSEC));
	else
		snprintf(buf, size, "%lluus", (unsigned long long)usec);
	return buf;
}

const char *mg_format_seconds(uint64_t usec, char *buf, size_t size)
{
	snprintf(buf, size, "%" PRIu64 ".%03" PRIu64 "s", usec / MG_USEC_PER_SEC,
		 usec % MG_USEC_PER_SEC / MG_USEC_PER_MSEC);
	return buf;
}

int mg_parse_bool(const char *s)
{
	static const char *yes[] = { "yes", "true", "on", "1" };
	static const char *no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < MG_ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return 1;
		if (strcasecmp(s, no[i]) == 0)
			return 0;
	}
	return -EINVAL;
}

int mg_parse_int(const char *s, long long min, long long max, long long *out)
{
	long long v;
	char *end;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (*end != '\0')
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

const char *mg_format_utc(uint64_t usec, char *buf, size_t size)
{
	time_t t = (time_t)(usec / MG_USEC_PER_SEC);
	struct tm tm;
	char tmp[32];

	gmtime_r(&t, &tm);
	strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, size, "%s.%03lluZ", tmp, (unsigned long long)(usec % MG_USEC_PER_SEC / 1000));
	return buf;
}
