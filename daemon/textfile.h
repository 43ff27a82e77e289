/* textfile.h - a file rewritten from a render callback once per loop turn
 * after any number of changes (mg_write_file_atomic: readers never see half
 * a file).  A failed write is logged once, and once more when writing works
 * again; the daemon goes on either way.  Used for the metrics textfile and
 * STATE_DIR/status.json. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

struct mg_textfile;

/* what names the file in log lines ("metrics textfile"); render(userdata)
 * returns a malloc'ed text or NULL (out of memory).  The first write is
 * scheduled at once.  0 or a negative errno. */
int mg_textfile_new(sd_event *loop, const char *what, const char *path, mode_t mode,
		    char *(*render)(void *userdata), void *userdata, struct mg_textfile **out);
/* Schedules a rewrite; f may be NULL (no file configured). */
void mg_textfile_changed(struct mg_textfile *f);
/* Stops; with remove, the file goes too.  Returns NULL. */
struct mg_textfile *mg_textfile_free(struct mg_textfile *f, bool remove);
