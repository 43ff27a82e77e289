/* common.h - what several migguard subcommands share: the state directory,
 * and the JSON documents the daemon leaves there (report.json,
 * status.json), read as untrusted input: whoever can write to the state
 * directory (or a crash, or a full disk) decides what they hold. */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

/* The state dir to read: state_dir when given, else the one in conf_path
 * (a missing file means the defaults).  conf is initialised here and must
 * be cleared by the caller.  0, or a process exit status (the error
 * printed). */
int mg_cli_state_dir(const char *state_dir, const char *conf_path, struct mg_conf *conf, const char **out);

/* The largest JSON file read (a report.json holds the whole snapshot:
 * about 3 MB for 300 threads of 64 frames). */
#define MG_CLI_JSON_MAX (64u << 20)

/* One JSON document.  The accessors below type-check every member they
 * return; the first member of the wrong type is named in problem, and
 * the caller says the document is malformed. */
struct mg_cli_doc {
	json_object *root;	/* an object once loaded */
	char where[64];		/* the array element being read ("timeline[2]"), for problem */
	char problem[384];	/* "" or e.g. "\"timeline\" is an int, not an array" */
};

/* Loads path into doc: a regular file (a FIFO would block us; opened
 * without following a symlink), at most MG_CLI_JSON_MAX bytes, one JSON
 * object.  0; -ENOENT, -EACCES... from open; -EINVAL not a regular file;
 * -EFBIG too large; -EBADMSG not a JSON object.  mg_cli_doc_clear()
 * after, whatever the result. */
int mg_cli_doc_load(const char *path, struct mg_cli_doc *doc);
void mg_cli_doc_clear(struct mg_cli_doc *doc);
/* What a mg_cli_doc_load() error means, for a message. */
const char *mg_cli_doc_strerror(int r);

/* o[key] (o is the root or an element from mg_cli_object_at()).  Absent
 * or null: dflt / false / NULL, and not a problem.  Another type: the same,
 * and the problem recorded. */
const char *mg_cli_str(struct mg_cli_doc *doc, json_object *o, const char *key, const char *dflt);
bool mg_cli_int(struct mg_cli_doc *doc, json_object *o, const char *key, int64_t *v);
/* An int is a number too. */
bool mg_cli_double(struct mg_cli_doc *doc, json_object *o, const char *key, double *v);
json_object *mg_cli_array(struct mg_cli_doc *doc, json_object *o, const char *key);
/* Element i of an array from mg_cli_array() named name, when it is an
 * object (NULL and a problem otherwise); later problems name it. */
json_object *mg_cli_object_at(struct mg_cli_doc *doc, json_object *array, const char *name, size_t i);
