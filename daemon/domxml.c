/* domxml.c - see domxml.h. */
#include "domxml.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
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

/* Every <host> of every NBD drive's <source>: unix sockets and TCP
 * servers.  Values are QEMU's (libvirt passes them through); a host
 * without either is skipped. */
static void parse_nbd(xmlXPathContextPtr ctx, bool status, struct mg_domxml *out)
{
	const char *expr = status ? "/domstatus/domain/devices/disk[@type='network']/source[@protocol='nbd']/host"
				  : "/domain/devices/disk[@type='network']/source[@protocol='nbd']/host";
	xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)expr, ctx);

	for (int i = 0; o && o->nodesetval && i < o->nodesetval->nodeNr && out->n_nbd < MG_DOMXML_MAX_NBD; i++) {
		xmlNodePtr h = o->nodesetval->nodeTab[i];
		struct mg_nbd_server *s = &out->nbd[out->n_nbd];
		xmlChar *transport = xmlGetProp(h, (const xmlChar *)"transport");
		xmlChar *sock = xmlGetProp(h, (const xmlChar *)"socket");
		xmlChar *name = xmlGetProp(h, (const xmlChar *)"name");
		xmlChar *port = xmlGetProp(h, (const xmlChar *)"port");
		long long delay = 0;

		memset(s, 0, sizeof(*s));
		for (xmlNodePtr c = h->parent ? h->parent->children : NULL; c; c = c->next) {
			xmlChar *d;

			if (c->type != XML_ELEMENT_NODE || strcmp((const char *)c->name, "reconnect") != 0)
				continue;
			d = xmlGetProp(c, (const xmlChar *)"delay");
			if (d && mg_parse_int((const char *)d, 0, 1 << 20, &delay) < 0)
				delay = 0;
			xmlFree(d);
		}
		s->reconnect_delay = (unsigned)delay;
		if (transport && strcmp((const char *)transport, "unix") == 0 && sock) {
			s->is_unix = true;
			snprintf(s->path, sizeof(s->path), "%s", (const char *)sock);
			out->n_nbd++;
		} else if (name) {
			snprintf(s->host, sizeof(s->host), "%s", (const char *)name);
			snprintf(s->port, sizeof(s->port), "%s", port ? (const char *)port : "");
			out->n_nbd++;
		}
		xmlFree(transport);
		xmlFree(sock);
		xmlFree(name);
		xmlFree(port);
	}
	xmlXPathFreeObject(o);
}

static int parse_doc(xmlDocPtr doc, struct mg_domxml *out, char *err, size_t err_size)
{
	xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
	char pid[32], action[32], pc_action[32], flags[32];
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
	xpath_string(ctx, DOM("metadata/mg:guard/mg:postcopy_action"), pc_action, sizeof(pc_action));
#undef DOM
	parse_nbd(ctx, status, out);
	if (status) {
		xpath_string(ctx, "string(/domstatus/@pid)", pid, sizeof(pid));
		xpath_string(ctx, "string(/domstatus/@state)", out->state, sizeof(out->state));
		xpath_string(ctx, "string(/domstatus/@reason)", out->reason, sizeof(out->reason));
		xpath_string(ctx, "string(/domstatus/monitor/@path)", out->monitor_path, sizeof(out->monitor_path));
		xpath_string(ctx, "string(/domstatus/job/@async)", out->async_job, sizeof(out->async_job));
		xpath_string(ctx, "string(/domstatus/job/@phase)", out->job_phase, sizeof(out->job_phase));
		xpath_string(ctx, "string(/domstatus/job/@flags)", flags, sizeof(flags));
		if (flags[0]) {
			char *end;

			errno = 0;
			out->job_flags = strtoul(flags, &end, 0);
			out->has_job_flags = errno == 0 && end != flags && !*end;
			if (!out->has_job_flags)
				out->job_flags = 0;
		}
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
	if (pc_action[0]) {
		if (mg_pc_action_from_string(pc_action, &out->postcopy_action) < 0) {
			snprintf(err, err_size, "domain %s: invalid <migguard:postcopy_action> \"%s\" in <metadata>",
				 out->name, pc_action);
			return -EINVAL;
		}
		out->has_postcopy_action = true;
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
