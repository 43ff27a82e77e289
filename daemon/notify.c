/* notify.c - see notify.h. */
#include "notify.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct sink {
	char *name;
	mg_sink_fn fn;
	void *userdata;
};

struct mg_notify {
	struct sink *v;
	size_t n;
};

struct mg_event mg_event_make(enum mg_event_kind kind)
{
	return (struct mg_event){ .kind = kind, .ev = { .time_usec = mg_now_real() } };
}

int mg_notify_new(struct mg_notify **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

struct mg_notify *mg_notify_free(struct mg_notify *n)
{
	if (!n)
		return NULL;
	for (size_t i = 0; i < n->n; i++)
		free(n->v[i].name);
	free(n->v);
	free(n);
	return NULL;
}

static struct sink *find(const struct mg_notify *n, const char *name)
{
	for (size_t i = 0; i < n->n; i++)
		if (strcmp(n->v[i].name, name) == 0)
			return &n->v[i];
	return NULL;
}

int mg_notify_register(struct mg_notify *n, const char *name, mg_sink_fn fn, void *userdata)
{
	struct sink *s, *v;

	if (!n || !name || !fn)
		return -EINVAL;
	s = find(n, name);
	if (s) {
		s->fn = fn;
		s->userdata = userdata;
		return 0;
	}
	v = reallocarray(n->v, n->n + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	n->v = v;
	s = &v[n->n];
	*s = (struct sink){ .name = strdup(name), .fn = fn, .userdata = userdata };
	if (!s->name)
		return -ENOMEM;
	n->n++;
	return 0;
}

int mg_notify_unregister(struct mg_notify *n, const char *name)
{
	struct sink *s = n ? find(n, name) : NULL;

	if (!s)
		return -ENOENT;
	free(s->name);
	/* Kept in order: the order of registration is the order of dispatch. */
	memmove(s, s + 1, (size_t)(n->v + n->n - (s + 1)) * sizeof(*s));
	n->n--;
	return 0;
}

size_t mg_notify_count(const struct mg_notify *n) { return n ? n->n : 0; }

void mg_notify_dispatch(const struct mg_notify *n, const struct mg_event *e)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++)
		n->v[i].fn(n->v[i].userdata, e);
}
