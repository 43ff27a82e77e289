/* textfile.c - see textfile.h. */
#include "textfile.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <string.h>

struct mg_textfile {
	sd_event_source *defer;
	char *what, *path;
	mode_t mode;
	char *(*render)(void *userdata);
	void *userdata;
	bool failed;			/* logged once until a write works */
};

static int on_defer(sd_event_source *s, void *userdata)
{
	struct mg_textfile *f = userdata;
	_cleanup_free_ char *text = f->render(f->userdata);
	int r = text ? mg_write_file_atomic(f->path, text, strlen(text), f->mode, false) : -ENOMEM;

	if (r < 0 && !f->failed)
		mg_error_errno(r, "%s %s: cannot write", f->what, f->path);
	else if (r == 0 && f->failed)
		mg_notice("%s %s: written again", f->what, f->path);
	f->failed = r < 0;
	return 0;
}

int mg_textfile_new(sd_event *loop, const char *what, const char *path, mode_t mode,
		    char *(*render)(void *userdata), void *userdata, struct mg_textfile **out)
{
	struct mg_textfile *f = calloc(1, sizeof(*f));
	int r = -ENOMEM;

	if (!f)
		return -ENOMEM;
	f->what = strdup(what);
	f->path = strdup(path);
	f->mode = mode;
	f->render = render;
	f->userdata = userdata;
	if (!f->what || !f->path)
		goto fail;
	/* A defer source fires once per loop turn however many changes came
	 * in it: one write per burst. */
	r = sd_event_add_defer(loop, &f->defer, on_defer, f);
	if (r < 0)
		goto fail;
	sd_event_source_set_enabled(f->defer, SD_EVENT_ONESHOT);
	*out = f;
	return 0;
fail:
	mg_textfile_free(f, false);
	return r;
}

void mg_textfile_changed(struct mg_textfile *f)
{
	if (f)
		sd_event_source_set_enabled(f->defer, SD_EVENT_ONESHOT);
}

struct mg_textfile *mg_textfile_free(struct mg_textfile *f, bool remove)
{
	if (!f)
		return NULL;
	sd_event_source_disable_unref(f->defer);
	if (remove && f->path)
		unlink(f->path);
	free(f->what);
	free(f->path);
	free(f);
	return NULL;
}
