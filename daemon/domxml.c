/* domxml.c - see domxml.h. */
#include "domxml.h"
#include "util.h"

#include <errno.h>
#include <string.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

static void xpath_string(xmlXPathContextPtr ctx, const char *expr, char *buf, size_t size)
{
	xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)expr, ctx);

	buf[0] = '\0';
	if (o && o->type == XPATH_STRING && o->stringval)
		snprintf(buf, size, "%s", (const char *)o->stringval);
	xmlXPathFreeObject(o);
}

static int parse_doc(xmlDocPtr doc, struct mg_domxml *out, char *err, size_t err_size)
{
	xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
	char pid[32], action[32];
	long long v;
	bool status;

	if (!ctx) {
		snprintf(err, err_size, "out of memory");
		return -ENOMEM;
	}
	memset(out, 0, sizeof(*out));
	xmlXPathRegisterNs(ctx, (const xmlChar *)"mg", (const xmlChar *)MG_METADATA_NS);
	status = xmlDocGetRootElement(doc) &&
		 strcmp((const char *)xmlDocGetRootElement(doc)->name, "domstatus") == 0;
	/* A status file wraps the definition: <domstatus><domain>...</domain>. */
#define DOM(x) (status ? "string(/domstatus/domain/" x ")" : "string(/domain/" x ")")
	xpath_string(ctx, DOM("name"), out->name, sizeof(out->name));
	xpath_string(ctx, DOM("uuid"), out->uuid, sizeof(out->uuid));
	xpath_string(ctx, DOM("metadata/mg:guard/mg:action"), action, sizeof(action));
#undef DOM
	if (status) {
		xpath_string(ctx, "string(/domstatus/@pid)", pid, sizeof(pid));
		xpath_string(ctx, "string(/domstatus/@state)", out->state, sizeof(out->state));
		xpath_string(ctx, "string(/domstatus/@reason)", out->reason, sizeof(out->reason));
		xpath_string(ctx, "string(/domstatus/monitor/@path)", out->monitor_path, sizeof(out->monitor_path));
		xpath_string(ctx, "string(/domstatus/job/@async)", out->async_job, sizeof(out->async_job));
		xpath_string(ctx, "string(/domstatus/job/@phase)", out->job_phase, sizeof(out->job_phase));
		xpath_string(ctx, "string(/domstatus/libDir/@path)", out->lib_dir, sizeof(out->lib_dir));
		if (pid[0] && mg_parse_int(pid, 0, 1 << 30, &v) == 0)
			out->pid = (pid_t)v;
	}
	xmlXPathFreeContext(ctx);
	if (!out->name[0]) {
		snprintf(err, err_size, "no domain name in the XML");
		return -EINVAL;
	}
	if (action[0]) {
		if (mg_action_from_string(action, &out->action) < 0) {
			snprintf(err, err_size, "domain %s: invalid <migguard:action> \"%s\" in <metadata>",
				 out->name, action);
			return -EINVAL;
		}
		out->has_action = true;
	}
	return 0;
}

int mg_domxml_parse_file(const char *path, struct mg_domxml *out, char *err, size_t err_size)
{
	xmlDocPtr doc;
	int r;

	if (access(path, R_OK) < 0) {
		r = -errno;
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		return r;
	}
	doc = xmlReadFile(path, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc) {
		snprintf(err, err_size, "%s: not well-formed XML", path);
		return -EINVAL;
	}
	r = parse_doc(doc, out, err, err_size);
	xmlFreeDoc(doc);
	return r;
}

int mg_domxml_parse_string(const char *xml, struct mg_domxml *out, char *err, size_t err_size)
{
	xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
				      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	int r;

	if (!doc) {
		snprintf(err, err_size, "not well-formed XML");
		return -EINVAL;
	}
	r = parse_doc(doc, out, err, err_size);
	xmlFreeDoc(doc);
	return r;
}

int mg_domxml_read(const char *run_dir, const char *name, struct mg_domxml *out, char *err,
		   size_t err_size)
{
	char path[1024];

	if (strchr(name, '/')) {
		snprintf(err, err_size, "invalid domain name \"%s\"", name);
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "%s/%s.xml", run_dir ? run_dir : MG_DOMXML_DEFAULT_RUN_DIR, name);
	return mg_domxml_parse_file(path, out, err, err_size);
}
