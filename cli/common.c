/* common.c - see common.h. */
#include "common.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

int mg_cli_state_dir(const char *state_dir, const char *conf_path, struct mg_conf *conf, const char **out)
{
	char err[MG_CONF_ERROR_MAX];
	int r;

	if (mg_conf_init_defaults(conf) < 0)
		return EXIT_FAILURE;
	if (!state_dir) {
		r = mg_conf_load(conf_path, conf, err, sizeof(err));
		if (r < 0 && r != -ENOENT) {
			fprintf(stderr, "migguard: %s\n", err);
			return EX_CONFIG;
		}
		state_dir = conf->state_dir;
	}
	*out = state_dir;
	return 0;
}

/* The whole regular file at path, NUL-terminated, in *out. */
static int read_bounded(const char *path, char **out, size_t *len_out)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	struct stat st;
	size_t len = 0;
	char *buf;

	if (fd < 0)
		return errno == ELOOP ? -EINVAL : -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((uint64_t)st.st_size > MG_CLI_JSON_MAX)
		return -EFBIG;
	/* The size may change while we read: never past the bound. */
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			return -errno;
		}
		if (n == 0 || (len += (size_t)n) == (size_t)st.st_size)
			break;
	}
	buf[len] = '\0';
	*out = buf;
	*len_out = len;
	return 0;
}

int mg_cli_doc_load(const char *path, struct mg_cli_doc *doc)
{
	_cleanup_free_ char *text = NULL;
	struct json_tokener *tok;
	json_object *root;
	size_t len = 0;
	int r;

	memset(doc, 0, sizeof(*doc));
	r = read_bounded(path, &text, &len);
	if (r < 0)
		return r;
	/* json-c's default depth (32) bounds the nesting. */
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	root = json_tokener_parse_ex(tok, text, (int)len);
	/* Only white space may follow the object. */
	for (size_t i = json_tokener_get_parse_end(tok); root && i < len; i++)
		if (text[i] != ' ' && text[i] != '\t' && text[i] != '\r' && text[i] != '\n') {
			json_object_put(root);
			root = NULL;
		}
	json_tokener_free(tok);
	if (!root || !json_object_is_type(root, json_type_object)) {
		json_object_put(root);
		return -EBADMSG;
	}
	doc->root = root;
	return 0;
}

void mg_cli_doc_clear(struct mg_cli_doc *doc)
{
	json_object_put(doc->root);
	doc->root = NULL;
}

const char *mg_cli_doc_strerror(int r)
{
	switch (r) {
	case -EINVAL: return "not a regular file";
	case -EFBIG: return "too large";
	case -EBADMSG: return "malformed (not a JSON object)";
	default: return strerror(-r);
	}
}

static void problem(struct mg_cli_doc *doc, json_object *o, const char *what, const char *fmt, ...)
{
	char text[192];
	va_list ap;

	if (doc->problem[0])
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	snprintf(doc->problem, sizeof(doc->problem), "\"%s%s%s\" %s",
		 o != doc->root && doc->where[0] ? doc->where : "", o != doc->root && doc->where[0] ? "." : "", what,
		 text);
}

/* o[key] when present and not null, checked to be of type t. */
static json_object *member(struct mg_cli_doc *doc, json_object *o, const char *key, json_type t, const char *tname)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !v)
		return NULL;
	if (json_object_is_type(v, t))
		return v;
	if (t == json_type_double && json_object_is_type(v, json_type_int))
		return v;
	problem(doc, o, key, "is %s, not %s", json_type_to_name(json_object_get_type(v)), tname);
	return NULL;
}

const char *mg_cli_str(struct mg_cli_doc *doc, json_object *o, const char *key, const char *dflt)
{
	json_object *v = member(doc, o, key, json_type_string, "a string");

	return v ? json_object_get_string(v) : dflt;
}

bool mg_cli_int(struct mg_cli_doc *doc, json_object *o, const char *key, int64_t *out)
{
	json_object *v = member(doc, o, key, json_type_int, "an integer");

	if (v)
		*out = json_object_get_int64(v);
	return v != NULL;
}

bool mg_cli_double(struct mg_cli_doc *doc, json_object *o, const char *key, double *out)
{
	json_object *v = member(doc, o, key, json_type_double, "a number");

	if (v)
		*out = json_object_get_double(v);
	return v != NULL;
}

json_object *mg_cli_array(struct mg_cli_doc *doc, json_object *o, const char *key)
{
	return member(doc, o, key, json_type_array, "an array");
}

json_object *mg_cli_object_at(struct mg_cli_doc *doc, json_object *array, const char *name, size_t i)
{
	json_object *e = json_object_array_get_idx(array, i);

	snprintf(doc->where, sizeof(doc->where), "%s[%zu]", name, i);
	if (e && json_object_is_type(e, json_type_object))
		return e;
	if (!doc->problem[0])
		snprintf(doc->problem, sizeof(doc->problem), "\"%s\" is %s, not an object", doc->where,
			 json_type_to_name(json_object_get_type(e)));
	return NULL;
}
