/* signature.h - known-issue signatures: files in conf/signatures/ (format
 * in conf/signatures/README) that map thread-name and frame patterns to an
 * explanation and the upstream fix, matched against a snapshot. */
#pragma once

#include "snapshot/snapshot.h"

struct mg_signature;

/* Loads every *.sig file of dir (sorted by name) into *out.  0, -ENOENT
 * when dir is missing, or -EINVAL with "file:line: reason" logged. */
int mg_signatures_load(const char *dir, struct mg_signature **out, size_t *n_out);
/* Parses one file's text; name is used in error messages. */
int mg_signatures_parse(const char *name, const char *text, struct mg_signature **sigs,
			size_t *n_sigs);
void mg_signatures_free(struct mg_signature *sigs, size_t n);
/* Matches each signature against snap (classified, with the lock graph)
 * and appends one result per signature to snap->sigs.  0 or -ENOMEM. */
int mg_signatures_match(const struct mg_signature *sigs, size_t n, struct mg_snapshot *snap);
