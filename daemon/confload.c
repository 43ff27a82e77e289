/* confload.c - mg_conf_load() (conf.h): reads the INI file through a
 * bounded line reader into libinih, checks every key against the table
 * (conftable.h), and reports the first error as "file:line: ...".  The
 * result is copied out only when the whole file is valid. */
#include "conf.h"
#include "conftable.h"
#include "escape.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* Bounds on what the reader takes in before inih sees it: a line (leading
 * blanks included) and the whole file, so that no input, /dev/zero or a
 * file that keeps growing, keeps the loader reading. */
#define CONF_LINE_MAX 4096
#define CONF_FILE_MAX (1024 * 1024)

/* One load in progress: the scratch configuration and where the reader is. */
struct parse {
	const char *path;
	FILE *f;
	unsigned line;			/* the line last handed to inih */
	size_t total;			/* bytes read so far */
	char buf[CONF_LINE_MAX + 1];
	struct mg_conf conf;		/* scratch, copied out only when valid */
	unsigned key_line[MG_CONF_N_KEYS];
	unsigned err_line;		/* first error, 0 = none */
	int read_err;			/* negative errno from reading the file */
	char *err;
	size_t err_size;
};

/* Records the first error only: later ones are usually its consequences. */
static int __attribute__((format(printf, 3, 4))) parse_error(struct parse *p, unsigned line,
							   const char *fmt, ...)
{
	char msg[MG_CONF_ERROR_MAX];
	va_list ap;

	if (p->err_line)
		return -EINVAL;
	p->err_line = line;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* The message quotes the file's bytes: control bytes are escaped so
	 * that the error printed on a terminal or logged is what the file holds,
	 * not what it tells the terminal to do. */
	snprintf(p->err, p->err_size, "%s:%u: %s", MG_ESC(p->path), line, MG_ESC(msg));
	return -EINVAL;
}

static bool plugin_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > MG_CONF_PLUGIN_NAME_MAX)
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

/* The index of [section] name in keys, or MG_CONF_N_KEYS. */
static size_t key_index(const char *section, const char *name)
{
	size_t i;

	for (i = 0; i < MG_CONF_N_KEYS; i++)
		if (strcmp(mg_conf_keys[i].section, section) == 0 && strcmp(mg_conf_keys[i].name, name) == 0)
			break;
	return i;
}

static bool section_known(const char *section)
{
	for (size_t i = 0; i < MG_CONF_N_KEYS; i++)
		if (strcmp(mg_conf_keys[i].section, section) == 0)
			return true;
	return false;
}

static bool section_is_plugin(const char *section)
{
	return strncmp(section, MG_CONF_PLUGIN_PREFIX, strlen(MG_CONF_PLUGIN_PREFIX)) == 0;
}

static struct mg_conf_section *plugin_section_get(struct parse *p, const char *name);

/* Called by the reader for a "[...]" line, because inih tells the handler
 * nothing about a section header: an unknown or empty section must still be
 * reported at its own line. */
static void check_section_line(struct parse *p, const char *line)
{
	const char *end = strchr(line, ']');
	_cleanup_free_ char *name = NULL;

	if (!end)
		return; /* inih reports the syntax error */
	name = strndup(line + 1, (size_t)(end - line - 1));
	if (!name) {
		p->read_err = -ENOMEM;
		return;
	}
	if (section_known(name))
		return;
	if (section_is_plugin(name) && plugin_name_valid(name + strlen(MG_CONF_PLUGIN_PREFIX))) {
		/* Registered here so that a section without keys still loads
		 * its plugin, and errors can name the header's line. */
		struct mg_conf_section *sec = plugin_section_get(p, name + strlen(MG_CONF_PLUGIN_PREFIX));

		if (!sec)
			p->read_err = -ENOMEM;
		else if (!sec->line)
			sec->line = p->line;
		return;
	}
	if (section_is_plugin(name))
		parse_error(p, p->line, "invalid plugin name in [%s] (1 to %d of A-Z a-z 0-9 _ -)",
			    name, MG_CONF_PLUGIN_NAME_MAX);
	else
		parse_error(p, p->line, "unknown section [%s]", name);
}

/* Reads one line into p->buf, at most CONF_LINE_MAX bytes with its '\n':
 * its length, 0 at the end of the file, or a negative errno (-EFBIG: the
 * line or the file is too long; the caller names which). */
static ssize_t read_bounded_line(struct parse *p, bool *has_nul)
{
	size_t len = 0;
	int c = 0;

	*has_nul = false;
	while (len < CONF_LINE_MAX && (c = getc(p->f)) != EOF) {
		p->buf[len++] = (char)c;
		*has_nul |= c == '\0';
		if (c == '\n')
			break;
	}
	if (c == EOF && ferror(p->f))
		return errno ? -errno : -EIO;
	p->total += len;
	p->buf[len] = '\0';
	if (len == CONF_LINE_MAX && c != '\n') {
		c = getc(p->f);
		if (c != EOF)
			return -EFBIG;
	}
	return p->total > CONF_FILE_MAX ? -EFBIG : (ssize_t)len;
}

/* inih's fgets-style reader: counts lines so every error names its line
 * (Debian's libinih is built without INI_HANDLER_LINENO) and stops the parse
 * after the first error. */
static char *read_line(char *str, int num, void *stream)
{
	struct parse *p = stream;
	bool has_nul;
	ssize_t n;
	char *s;
	size_t len;

	if (p->err_line || p->read_err)
		return NULL;
	n = read_bounded_line(p, &has_nul);
	if (n == 0)
		return NULL;
	p->line++;
	if (n == -EFBIG && p->total > CONF_FILE_MAX) {
		parse_error(p, p->line, "file too long (at most %d bytes)", CONF_FILE_MAX);
		return NULL;
	}
	if (n == -EFBIG) {
		parse_error(p, p->line, "line too long (at most %d characters)", num - 1);
		return NULL;
	}
	if (n < 0) {
		p->read_err = (int)n;
		return NULL;
	}
	/* inih and every string after it end at a NUL: a value would be cut
	 * there without a word. */
	if (has_nul) {
		parse_error(p, p->line, "NUL byte in the line");
		return NULL;
	}
	s = p->buf;
	if (p->line == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3;
	/* Leading blanks are dropped so inih never sees a continuation line:
	 * an indented "key = value" is a key, not part of the previous value. */
	s += strspn(s, " \t");
	len = strlen(s);
	/* The bound is on the line's characters, with or without its newline
	 * (the last line may lack one; the dump always writes one). */
	if (len > 0 && s[len - 1] == '\n')
		s[--len] = '\0';
	if (len + 1 > (size_t)num) {
		parse_error(p, p->line, "line too long (at most %d characters)", num - 1);
		return NULL;
	}
	memcpy(str, s, len + 1);
	if (*s == '[')
		check_section_line(p, s);
	return str;
}

static int parse_duration_key(struct parse *p, const struct mg_conf_key *k, const char *value,
			      uint64_t *out)
{
	char lo[32], hi[32];
	uint64_t v;
	int r;

	r = mg_parse_duration(value, &v);
	if (r == -EINVAL)
		return parse_error(p, p->line, "[%s] %s: invalid duration \"%s\" (expected e.g. 30s, 500ms, 2m)",
				   k->section, k->name, value);
	if (r < 0 || v < k->min || v > k->max)
		return parse_error(p, p->line, "[%s] %s: \"%s\" is out of range (%s..%s)",
				   k->section, k->name, value,
				   mg_format_duration(k->min, lo, sizeof(lo)),
				   mg_format_duration(k->max, hi, sizeof(hi)));
	*out = v;
	return 0;
}

static int parse_template_key(struct parse *p, const struct mg_conf_key *k, const char *value)
{
	bool names_domain;

	if (!*value)
		return 0;
	if (value[0] != '/')
		return parse_error(p, p->line, "[%s] %s: \"%s\" is not an absolute path",
				   k->section, k->name, value);
	if (mg_conf_template_check(value, &names_domain) < 0)
		return parse_error(p, p->line, "[%s] %s: \"%s\" has an unknown %% expansion (expected %%n, %%u or %%%%)",
				   k->section, k->name, value);
	if (!names_domain)
		return parse_error(p, p->line, "[%s] %s: \"%s\" must contain %%n (domain name) or %%u (uuid)",
				   k->section, k->name, value);
	return 0;
}

/* "" or "/a:/b": every directory absolute (a relative one would depend on
 * the daemon's working directory). */
static int parse_path_list_key(struct parse *p, const struct mg_conf_key *k, const char *value)
{
	for (const char *s = value; *s; ) {
		size_t len = strcspn(s, ":");

		if (s[0] != '/')
			return parse_error(p, p->line, "[%s] %s: \"%.*s\" is not an absolute path",
					   k->section, k->name, (int)len, s);
		s += len;
		if (*s == ':')
			s++;
	}
	return 0;
}

/* Validates value for k and stores it in the scratch configuration. */
static int set_key(struct parse *p, const struct mg_conf_key *k, const char *value)
{
	void *field = (char *)&p->conf + k->offset;
	long long n;
	char *copy;
	int r;

	switch (k->type) {
	case KEY_STRING:
		if (!*value)
			return parse_error(p, p->line, "[%s] %s: must not be empty", k->section, k->name);
		break;
	case KEY_PATH_OPT:
		if (!*value)
			break;
		/* fall through */
	case KEY_PATH:
		if (value[0] != '/')
			return parse_error(p, p->line, "[%s] %s: \"%s\" is not an absolute path",
					   k->section, k->name, value);
		break;
	case KEY_PATH_LIST:
		if (parse_path_list_key(p, k, value) < 0)
			return -EINVAL;
		break;
	case KEY_TEMPLATE:
		if (parse_template_key(p, k, value) < 0)
			return -EINVAL;
		break;
	case KEY_LOG_LEVEL:
		r = mg_log_level_from_string(value);
		if (r < LOG_ERR)
			return parse_error(p, p->line, "[%s] %s: invalid log level \"%s\" (expected err, warning, notice, info or debug)",
					   k->section, k->name, value);
		*(int *)field = r;
		return 0;
	case KEY_DURATION:
		return parse_duration_key(p, k, value, field);
	case KEY_URI_TEMPLATE:
		if (*value && mg_conf_expand_uri(value, "n", "u", "a", (char[1024]){ 0 }, 1024) == -EINVAL)
			return parse_error(p, p->line, "[%s] %s: \"%s\" has an unknown %% expansion (expected %%n, %%u, %%a or %%%%)",
					   k->section, k->name, value);
		break;
	case KEY_PC_ACTION:
		if (mg_pc_action_from_string(value, field) < 0)
			return parse_error(p, p->line, "[%s] %s: invalid post-copy action \"%s\" (expected none, pause or recover)",
					   k->section, k->name, value);
		return 0;
	case KEY_ACTION:
		if (mg_action_from_string(value, field) < 0)
			return parse_error(p, p->line, "[%s] %s: invalid action \"%s\" (expected none, cancel or recover)",
					   k->section, k->name, value);
		return 0;
	case KEY_BOOL:
		r = mg_parse_bool(value);
		if (r < 0)
			return parse_error(p, p->line, "[%s] %s: invalid boolean \"%s\" (expected yes or no)",
					   k->section, k->name, value);
		*(bool *)field = r;
		return 0;
	case KEY_UINT:
		r = mg_parse_int(value, (long long)k->min, (long long)k->max, &n);
		if (r == -EINVAL)
			return parse_error(p, p->line, "[%s] %s: invalid number \"%s\"",
					   k->section, k->name, value);
		if (r < 0)
			return parse_error(p, p->line, "[%s] %s: \"%s\" is out of range (%llu..%llu)",
					   k->section, k->name, value,
					   (unsigned long long)k->min, (unsigned long long)k->max);
		*(unsigned *)field = (unsigned)n;
		return 0;
	}
	/* The string kinds. */
	copy = strdup(value);
	if (!copy) {
		p->read_err = -ENOMEM;
		return -ENOMEM;
	}
	free(*(char **)field);
	*(char **)field = copy;
	return 0;
}

static struct mg_conf_section *plugin_section_get(struct parse *p, const char *name)
{
	struct mg_conf_section *v, *sec;

	sec = (struct mg_conf_section *)mg_conf_plugin_section(&p->conf, name);
	if (sec)
		return sec;
	v = reallocarray(p->conf.plugins, p->conf.n_plugins + 1, sizeof(*v));
	if (!v)
		return NULL;
	p->conf.plugins = v;
	sec = &v[p->conf.n_plugins];
	*sec = (struct mg_conf_section){ .name = strdup(name) };
	if (!sec->name)
		return NULL;
	p->conf.n_plugins++;
	return sec;
}

/* inih ends a value at " ;" (an inline comment), so a value that starts
 * with one would be dumped as "key = ;..." and read back empty; it is
 * almost surely a comment meant for the line anyway. */
static int check_value_start(struct parse *p, const char *section, const char *key, const char *value)
{
	if (value[0] == ';' || value[0] == '#')
		return parse_error(p, p->line, "[%s] %s: a value cannot start with '%c' (a comment?)",
				   section, key, value[0]);
	return 0;
}

static int set_plugin_key(struct parse *p, const char *section, const char *key, const char *value)
{
	struct mg_conf_section *sec;
	struct mg_conf_kv *kv;

	/* The same alphabet as plugin names: a key inih parsed out of ":;" or
	 * "= x" is empty, and `--check-config -v` must print a file that
	 * reads back as the same configuration. */
	if (!plugin_name_valid(key))
		return parse_error(p, p->line, "[%s] invalid key \"%s\" (1 to %d of A-Z a-z 0-9 _ -)",
				   section, key, MG_CONF_PLUGIN_NAME_MAX);
	if (check_value_start(p, section, key, value) < 0)
		return -EINVAL;
	sec = plugin_section_get(p, section + strlen(MG_CONF_PLUGIN_PREFIX));
	if (!sec)
		goto oom;
	for (size_t i = 0; i < sec->n; i++)
		if (strcmp(sec->kv[i].key, key) == 0)
			return parse_error(p, p->line, "[%s] %s: duplicate key (first set on line %u)",
					   section, key, sec->kv[i].line);
	kv = reallocarray(sec->kv, sec->n + 1, sizeof(*kv));
	if (!kv)
		goto oom;
	sec->kv = kv;
	kv = &sec->kv[sec->n];
	*kv = (struct mg_conf_kv){ .key = strdup(key), .value = strdup(value), .line = p->line };
	if (!kv->key || !kv->value) {
		free(kv->key);
		free(kv->value);
		goto oom;
	}
	sec->n++;
	return 0;
oom:
	p->read_err = -ENOMEM;
	return -ENOMEM;
}

/* inih's handler: returns nonzero to go on. */
static int on_key(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	size_t i;

	/* Libraries built with INI_CALL_HANDLER_ON_NEW_SECTION announce sections
	 * this way; the reader checks them already. */
	if (!name)
		return 1;
	if (!*section)
		return !parse_error(p, p->line, "key \"%s\" outside any section", name);
	if (section_is_plugin(section))
		return set_plugin_key(p, section, name, value) == 0;
	if (!section_known(section))
		return !parse_error(p, p->line, "unknown section [%s]", section);
	i = key_index(section, name);
	if (i == MG_CONF_N_KEYS)
		return !parse_error(p, p->line, "[%s] unknown key \"%s\"", section, name);
	if (p->key_line[i])
		return !parse_error(p, p->line, "[%s] %s: duplicate key (first set on line %u)",
				    section, name, p->key_line[i]);
	p->key_line[i] = p->line;
	if (check_value_start(p, section, name, value) < 0)
		return 0;
	return set_key(p, &mg_conf_keys[i], value) == 0;
}

/* Requires keys[small] < keys[big]; the error is reported at whichever of
 * the two was set later in the file, since that is the one that broke it. */
static int check_shorter(struct parse *p, size_t small, size_t big)
{
	const struct mg_conf_key *ks = &mg_conf_keys[small], *kb = &mg_conf_keys[big];
	uint64_t vs = *(uint64_t *)((char *)&p->conf + ks->offset);
	uint64_t vb = *(uint64_t *)((char *)&p->conf + kb->offset);
	char bs[32], bb[32];

	if (vs < vb)
		return 0;
	mg_format_duration(vs, bs, sizeof(bs));
	mg_format_duration(vb, bb, sizeof(bb));
	if (p->key_line[small] > p->key_line[big])
		return parse_error(p, p->key_line[small], "[%s] %s: must be shorter than %s (%s >= %s)",
				   ks->section, ks->name, kb->name, bs, bb);
	return parse_error(p, p->key_line[big], "[%s] %s: must be longer than %s (%s <= %s)",
			   kb->section, kb->name, ks->name, bb, bs);
}

static int parse_file(struct parse *p)
{
	int r;

	r = ini_parse_stream(read_line, p, on_key, p);
	if (p->read_err == -ENOMEM || r == -2) {
		snprintf(p->err, p->err_size, "%s: out of memory", MG_ESC(p->path));
		return -ENOMEM;
	}
	if (p->read_err) {
		snprintf(p->err, p->err_size, "%s: read error: %s", MG_ESC(p->path), strerror(-p->read_err));
		return p->read_err;
	}
	/* inih returns the first line it failed on, ours or its own syntax
	 * error; an earlier one than ours can only be a syntax error. */
	if (r > 0 && (!p->err_line || (unsigned)r < p->err_line)) {
		p->err_line = 0;
		return parse_error(p, (unsigned)r, "syntax error");
	}
	if (p->err_line)
		return -EINVAL;
	if (check_shorter(p, key_index("guard", "monitor_timeout"), key_index("guard", "finish_timeout")) < 0 ||
	    check_shorter(p, key_index("guard", "probe_interval"), key_index("guard", "finish_timeout")) < 0)
		return -EINVAL;
	return 0;
}

/* Opens p->path for reading: a regular file only.  O_NONBLOCK so that a
 * FIFO is refused, not waited on; a device (/dev/zero) is refused too. */
static int conf_open(struct parse *p)
{
	struct stat st = { 0 };
	int fd, r;

	fd = open(p->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		snprintf(p->err, p->err_size, "%s: cannot open: %s", MG_ESC(p->path), strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		snprintf(p->err, p->err_size, "%s: not a regular file", MG_ESC(p->path));
		close(fd);
		return r;
	}
	p->f = fdopen(fd, "r");
	if (!p->f) {
		r = -errno;
		close(fd);
		snprintf(p->err, p->err_size, "%s: out of memory", MG_ESC(p->path));
		return r;
	}
	return 0;
}

int mg_conf_load(const char *path, struct mg_conf *conf, char *err, size_t err_size)
{
	struct parse p = { .path = path, .err = err, .err_size = err_size };
	int r;

	if (err_size)
		err[0] = '\0';
	r = mg_conf_init_defaults(&p.conf);
	if (r < 0) {
		snprintf(err, err_size, "%s: out of memory", path);
		return r;
	}
	r = conf_open(&p);
	if (r < 0)
		goto out;
	r = parse_file(&p);
	if (r < 0)
		goto out;
	p.conf.path = strdup(path);
	if (!p.conf.path) {
		snprintf(err, err_size, "%s: out of memory", path);
		r = -ENOMEM;
		goto out;
	}
	mg_conf_clear(conf);
	*conf = p.conf;
	p.conf = (struct mg_conf){ 0 };
out:
	if (p.f)
		fclose(p.f);
	mg_conf_clear(&p.conf);
	return r;
}

