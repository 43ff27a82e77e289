/* qmppeer.c - see qmppeer.h. */
#include "qmppeer.h"
#include "util.h"

#include <check.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#define GREETING MG_QMPPEER_GREETING
#define PEER_CMDS 16
#define PEER_ITEMS 32

/* One answer: a "return" value, an error (cls set), or none (both NULL). */
struct answer {
	char *ret, *cls, *desc;
	uint64_t delay;
};

struct item {
	char *cmd;
	struct answer a;
};

/* What the script knows of one command. */
struct cmd {
	char *name;
	bool has_standing, last_oob;
	struct answer standing;
	unsigned count;
	char *last_args;
};

/* A delayed answer waiting for its time. */
struct delayed {
	struct mg_qmppeer *p;
	sd_event_source *timer;
	char *text;
	struct delayed *next;
};

struct mg_qmppeer {
	sd_event *loop;
	int fd;
	char buf[65536];
	size_t len;
	char id[64];

	bool scripted, offer_oob, ready;
	int lfd;
	char *path;
	sd_event_source *listen_src, *conn_src;
	unsigned connections, unexpected;
	struct cmd cmds[PEER_CMDS];
	struct item items[PEER_ITEMS];
	size_t n_items;
	struct delayed *delayed;
};

/* --- step by step ----------------------------------------------------------- */

struct mg_qmppeer *mg_qmppeer_new(sd_event *loop, int fd)
{
	struct mg_qmppeer *p = calloc(1, sizeof(*p));

	ck_assert_ptr_nonnull(p);
	p->loop = sd_event_ref(loop);
	p->fd = fd;
	p->lfd = -1;
	return p;
}

int mg_qmppeer_fd(const struct mg_qmppeer *p) { return p->fd; }

void mg_qmppeer_attach(struct mg_qmppeer *p, int fd)
{
	p->conn_src = sd_event_source_disable_unref(p->conn_src);
	if (p->fd >= 0)
		close(p->fd);
	p->fd = fd;
	p->len = 0;
	p->ready = false;
}

void mg_qmppeer_send(struct mg_qmppeer *p, const char *text)
{
	size_t len = strlen(text);

	ck_assert_int_eq(send(p->fd, text, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* The next complete line in the buffer, parsed, or NULL. */
static json_object *next_message(struct mg_qmppeer *p)
{
	char *nl = memchr(p->buf, '\n', p->len);
	json_object *o;

	if (!nl)
		return NULL;
	*nl = '\0';
	o = json_tokener_parse(p->buf);
	ck_assert_msg(o, "client sent invalid JSON: %s", p->buf);
	p->len -= (size_t)(nl + 1 - p->buf);
	memmove(p->buf, nl + 1, p->len);
	return o;
}

json_object *mg_qmppeer_recv(struct mg_qmppeer *p)
{
	uint64_t deadline = mg_now_mono() + 2 * MG_USEC_PER_SEC;

	for (;;) {
		json_object *o = next_message(p);
		ssize_t n;

		if (o)
			return o;
		ck_assert_msg(mg_now_mono() < deadline, "client sent nothing");
		ck_assert_int_ge(sd_event_run(p->loop, 10 * MG_USEC_PER_MSEC), 0);
		n = recv(p->fd, p->buf + p->len, sizeof(p->buf) - 1 - p->len, MSG_DONTWAIT);
		if (n > 0)
			p->len += (size_t)n;
	}
}

static const char *str_field(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

const char *mg_qmppeer_expect(struct mg_qmppeer *p, const char *cmd, bool oob, json_object **args)
{
	json_object *o = mg_qmppeer_recv(p);
	json_object *a;

	ck_assert_str_eq(str_field(o, oob ? "exec-oob" : "execute"), cmd);
	snprintf(p->id, sizeof(p->id), "%s", str_field(o, "id"));
	if (args)
		*args = json_object_object_get_ex(o, "arguments", &a) ? json_object_get(a) : NULL;
	json_object_put(o);
	return p->id;
}

void mg_qmppeer_reply(struct mg_qmppeer *p, const char *id, const char *ret)
{
	char buf[1024];

	snprintf(buf, sizeof(buf), "{\"return\": %s, \"id\": \"%s\"}\r\n", ret, id);
	mg_qmppeer_send(p, buf);
}

const char *mg_qmppeer_greet(struct mg_qmppeer *p, bool offer_oob)
{
	char buf[512];
	json_object *args = NULL;
	const char *id;

	snprintf(buf, sizeof(buf), GREETING, offer_oob ? "\"oob\"" : "");
	mg_qmppeer_send(p, buf);
	id = mg_qmppeer_expect(p, "qmp_capabilities", false, &args);
	if (offer_oob)
		ck_assert_str_eq(json_object_to_json_string_ext(args, JSON_C_TO_STRING_PLAIN),
				 "{\"enable\":[\"oob\"]}");
	else
		ck_assert_ptr_null(args);
	json_object_put(args);
	return id;
}

/* --- scripted ---------------------------------------------------------------- */

static void answer_clear(struct answer *a)
{
	free(a->ret);
	free(a->cls);
	free(a->desc);
	*a = (struct answer){ 0 };
}

static struct answer answer_make(const char *ret, const char *cls, const char *desc, uint64_t delay)
{
	struct answer a = { .delay = delay };

	a.ret = ret ? strdup(ret) : NULL;
	a.cls = cls ? strdup(cls) : NULL;
	a.desc = cls ? strdup(desc ? desc : "") : NULL;
	return a;
}

static struct cmd *find_cmd(struct mg_qmppeer *p, const char *name, bool add)
{
	for (size_t i = 0; i < PEER_CMDS; i++) {
		if (p->cmds[i].name && strcmp(p->cmds[i].name, name) == 0)
			return &p->cmds[i];
		if (!p->cmds[i].name && add) {
			p->cmds[i].name = strdup(name);
			return &p->cmds[i];
		}
	}
	ck_assert_msg(!add, "qmppeer: more than %d commands", PEER_CMDS);
	return NULL;
}

void mg_qmppeer_answer(struct mg_qmppeer *p, const char *cmd, const char *ret)
{
	struct cmd *c = find_cmd(p, cmd, true);

	answer_clear(&c->standing);
	c->standing = answer_make(ret, NULL, NULL, 0);
	c->has_standing = true;
}

void mg_qmppeer_answer_error(struct mg_qmppeer *p, const char *cmd, const char *cls, const char *desc)
{
	struct cmd *c = find_cmd(p, cmd, true);

	answer_clear(&c->standing);
	c->standing = answer_make(NULL, cls, desc, 0);
	c->has_standing = true;
}

void mg_qmppeer_add_item(struct mg_qmppeer *p, const char *cmd, const char *ret, const char *cls,
			 uint64_t delay)
{
	ck_assert_uint_lt(p->n_items, PEER_ITEMS);
	p->items[p->n_items].cmd = strdup(cmd);
	p->items[p->n_items].a = answer_make(ret, cls, cls ? "scripted error" : NULL, delay);
	p->n_items++;
	find_cmd(p, cmd, true);
}

/* The answer for cmd: its first queued item (taken), else its standing
 * answer; false when it has neither. */
static bool take_answer(struct mg_qmppeer *p, struct cmd *c, struct answer *out)
{
	for (size_t i = 0; i < p->n_items; i++) {
		if (strcmp(p->items[i].cmd, c->name) != 0)
			continue;
		*out = p->items[i].a;
		free(p->items[i].cmd);
		memmove(&p->items[i], &p->items[i + 1], (p->n_items - i - 1) * sizeof(p->items[0]));
		p->n_items--;
		return true;
	}
	if (!c->has_standing)
		return false;
	*out = answer_make(c->standing.ret, c->standing.cls, c->standing.desc, 0);
	return true;
}

static int on_delayed(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct delayed *d = userdata;
	struct mg_qmppeer *p = d->p;

	if (p->fd >= 0)
		send(p->fd, d->text, strlen(d->text), MSG_NOSIGNAL);
	for (struct delayed **pp = &p->delayed; *pp; pp = &(*pp)->next)
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	sd_event_source_disable_unref(d->timer);
	free(d->text);
	free(d);
	return 0;
}

static void send_answer(struct mg_qmppeer *p, const char *id, const struct answer *a)
{
	char *text = NULL;
	struct delayed *d;

	if (a->cls) {
		json_object *desc = json_object_new_string(a->desc);

		ck_assert_int_ge(asprintf(&text, "{\"error\": {\"class\": \"%s\", \"desc\": %s}, \"id\": %s}\r\n",
					  a->cls, json_object_to_json_string(desc), id), 0);
		json_object_put(desc);
	} else if (a->ret) {
		ck_assert_int_ge(asprintf(&text, "{\"return\": %s, \"id\": %s}\r\n", a->ret, id), 0);
	} else {
		return;		/* never answered */
	}
	if (!a->delay) {
		send(p->fd, text, strlen(text), MSG_NOSIGNAL);
		free(text);
		return;
	}
	d = calloc(1, sizeof(*d));
	ck_assert_ptr_nonnull(d);
	d->p = p;
	d->text = text;
	ck_assert_int_ge(sd_event_add_time_relative(p->loop, &d->timer, CLOCK_MONOTONIC, a->delay, 0,
						    on_delayed, d), 0);
	d->next = p->delayed;
	p->delayed = d;
}

static void dispatch(struct mg_qmppeer *p, json_object *o)
{
	const char *name = str_field(o, "execute");
	bool oob = !name;
	json_object *idv, *args;
	const char *id;
	struct answer a = { 0 };
	struct cmd *c;

	if (!name)
		name = str_field(o, "exec-oob");
	id = json_object_object_get_ex(o, "id", &idv) ? json_object_to_json_string(idv) : "null";
	if (!name) {
		p->unexpected++;
		return;
	}
	if (strcmp(name, "qmp_capabilities") == 0) {
		struct answer ok = { .ret = (char *)"{}" };

		send_answer(p, id, &ok);
		p->ready = true;
		return;
	}
	c = find_cmd(p, name, true);
	c->count++;
	c->last_oob = oob;
	free(c->last_args);
	c->last_args = strdup(json_object_object_get_ex(o, "arguments", &args) ?
			      json_object_to_json_string_ext(args, JSON_C_TO_STRING_PLAIN) : "");
	if (!take_answer(p, c, &a)) {
		p->unexpected++;
		a = answer_make(NULL, "CommandNotFound", "not in the script", 0);
	}
	send_answer(p, id, &a);
	answer_clear(&a);
}

static int on_conn(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct mg_qmppeer *p = userdata;
	ssize_t n = recv(fd, p->buf + p->len, sizeof(p->buf) - 1 - p->len, MSG_DONTWAIT);
	json_object *o;

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		mg_qmppeer_attach(p, -1);	/* the client went */
		return 0;
	}
	if (n > 0)
		p->len += (size_t)n;
	while ((o = next_message(p))) {
		dispatch(p, o);
		json_object_put(o);
	}
	return 0;
}

static int on_accept(sd_event_source *s, int lfd, uint32_t revents, void *userdata)
{
	struct mg_qmppeer *p = userdata;
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	char buf[512];

	if (fd < 0)
		return 0;
	mg_qmppeer_attach(p, fd);
	p->connections++;
	ck_assert_int_ge(sd_event_add_io(p->loop, &p->conn_src, fd, EPOLLIN, on_conn, p), 0);
	snprintf(buf, sizeof(buf), GREETING, p->offer_oob ? "\"oob\"" : "");
	mg_qmppeer_send(p, buf);
	return 0;
}

struct mg_qmppeer *mg_qmppeer_listen(sd_event *loop, const char *path, bool offer_oob)
{
	struct mg_qmppeer *p = mg_qmppeer_new(loop, -1);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	p->scripted = true;
	p->offer_oob = offer_oob;
	p->path = strdup(path);
	ck_assert_uint_lt(strlen(path), sizeof(sa.sun_path));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	p->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	ck_assert_int_ge(p->lfd, 0);
	ck_assert_int_eq(bind(p->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(p->lfd, 4), 0);
	ck_assert_int_ge(sd_event_add_io(loop, &p->listen_src, p->lfd, EPOLLIN, on_accept, p), 0);
	return p;
}

void mg_qmppeer_event(struct mg_qmppeer *p, const char *name, const char *data)
{
	char buf[1024];

	snprintf(buf, sizeof(buf),
		 "{\"event\": \"%s\", %s%s%s\"timestamp\": {\"seconds\": 1700000000, \"microseconds\": 1}}\r\n",
		 name, data ? "\"data\": " : "", data ? data : "", data ? ", " : "");
	ck_assert_int_ge(p->fd, 0);
	mg_qmppeer_send(p, buf);
}

unsigned mg_qmppeer_connections(const struct mg_qmppeer *p) { return p->connections; }
bool mg_qmppeer_ready(const struct mg_qmppeer *p) { return p->fd >= 0 && p->ready; }
unsigned mg_qmppeer_unexpected(const struct mg_qmppeer *p) { return p->unexpected; }

unsigned mg_qmppeer_count(const struct mg_qmppeer *p, const char *cmd)
{
	const struct cmd *c = find_cmd((struct mg_qmppeer *)p, cmd, false);

	return c ? c->count : 0;
}

bool mg_qmppeer_last_oob(const struct mg_qmppeer *p, const char *cmd)
{
	const struct cmd *c = find_cmd((struct mg_qmppeer *)p, cmd, false);

	return c && c->last_oob;
}

const char *mg_qmppeer_last_args(const struct mg_qmppeer *p, const char *cmd)
{
	const struct cmd *c = find_cmd((struct mg_qmppeer *)p, cmd, false);

	return c ? c->last_args : NULL;
}

void mg_qmppeer_free(struct mg_qmppeer *p)
{
	if (!p)
		return;
	mg_qmppeer_attach(p, -1);
	while (p->delayed) {
		struct delayed *d = p->delayed;

		p->delayed = d->next;
		sd_event_source_disable_unref(d->timer);
		free(d->text);
		free(d);
	}
	for (size_t i = 0; i < PEER_CMDS; i++) {
		free(p->cmds[i].name);
		free(p->cmds[i].last_args);
		answer_clear(&p->cmds[i].standing);
	}
	for (size_t i = 0; i < p->n_items; i++) {
		free(p->items[i].cmd);
		answer_clear(&p->items[i].a);
	}
	sd_event_source_disable_unref(p->listen_src);
	if (p->lfd >= 0)
		close(p->lfd);
	if (p->path)
		unlink(p->path);
	free(p->path);
	sd_event_unref(p->loop);
	free(p);
}
