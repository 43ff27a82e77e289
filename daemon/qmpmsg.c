/* qmpmsg.c - see qmpmsg.h. */
#include "qmpmsg.h"
#include "util.h"

#include <errno.h>
#include <string.h>

int mg_qmpmsg_parse_greeting(json_object *msg, struct mg_qmpmsg_greeting *g)
{
	static const char *const keys[] = { "major", "minor", "micro" };
	json_object *qmp, *o, *caps;

	*g = (struct mg_qmpmsg_greeting){ 0 };
	if (!json_object_object_get_ex(msg, "QMP", &qmp) ||
	    !json_object_is_type(qmp, json_type_object))
		return -EBADMSG;
	/* json_object_object_get_ex() is false on a non-object: no check of
	 * its own needed before it, only before every other accessor. */
	if (json_object_object_get_ex(qmp, "version", &o) &&
	    json_object_object_get_ex(o, "qemu", &o)) {
		g->have_version = true;
		for (size_t i = 0; i < MG_ARRAY_SIZE(keys); i++) {
			json_object *v;

			g->version[i] = json_object_object_get_ex(o, keys[i], &v) &&
				json_object_is_type(v, json_type_int) ? json_object_get_int(v) : 0;
		}
	}
	if (json_object_object_get_ex(qmp, "capabilities", &caps) &&
	    json_object_is_type(caps, json_type_array))
		for (size_t i = 0; i < json_object_array_length(caps); i++) {
			json_object *c = json_object_array_get_idx(caps, i);

			if (json_object_is_type(c, json_type_string) &&
			    strcmp(json_object_get_string(c), "oob") == 0)
				g->oob = true;
		}
	return 0;
}

int mg_qmpmsg_capabilities_args(bool oob, json_object **args)
{
	json_object *en, *a;

	*args = NULL;
	if (!oob)
		return 0;
	en = json_object_new_array();
	a = json_object_new_object();
	if (!a || !en || json_object_array_add(en, json_object_new_string("oob")) < 0 ||
	    json_object_object_add(a, "enable", en) < 0) {
		json_object_put(en);
		json_object_put(a);
		return -ENOMEM;
	}
	*args = a;
	return 0;
}

/* An integer member of obj, or 0 when absent or of another type. */
static int64_t member_int64(json_object *obj, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(obj, key, &v) && json_object_is_type(v, json_type_int) ?
		json_object_get_int64(v) : 0;
}

uint64_t mg_qmpmsg_event_timestamp(json_object *msg)
{
	json_object *ts;
	int64_t sec, usec;

	if (!json_object_object_get_ex(msg, "timestamp", &ts))
		return 0;
	sec = member_int64(ts, "seconds");
	usec = member_int64(ts, "microseconds");
	/* QEMU sends {-1, -1} when it could not read the clock; a value that
	 * would overflow the usec count is as unknown. */
	if (sec > 0 && (uint64_t)sec < UINT64_MAX / MG_USEC_PER_SEC - 1 &&
	    usec >= 0 && (uint64_t)usec < MG_USEC_PER_SEC)
		return (uint64_t)sec * MG_USEC_PER_SEC + (uint64_t)usec;
	return 0;
}
