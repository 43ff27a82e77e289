/* domxml.h - facts read from libvirt's status XML
 * (/run/libvirt/qemu/NAME.xml) with libxml2, without calling libvirt: it
 * works while every libvirt API that touches the domain hangs. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "conf.h"

#define MG_DOMXML_DEFAULT_RUN_DIR "/run/libvirt/qemu"
/* The namespace of the per-domain policy in the domain's <metadata>. */
#define MG_METADATA_NS "https://migguard.invalid/xmlns/guard/1"

#define MG_DOMXML_MAX_NBD 16

/* A drive's NBD storage server (<disk type='network'><source
 * protocol='nbd'><host .../>): a unix socket path, or a host and port. */
struct mg_nbd_server {
	bool is_unix;
	char path[108];			/* sun_path */
	char host[256];
	char port[16];			/* "" = NBD's default 10809 */
	unsigned reconnect_delay;	/* <reconnect delay='N'/>, seconds */
};

struct mg_domxml {
	char name[256];
	char uuid[40];
	pid_t pid;			/* 0 when not running */
	char state[32];			/* domstatus state, e.g. "running", "paused" */
	char reason[32];
	char monitor_path[512];		/* libvirt's own QMP socket */
	char async_job[32];		/* "none", "migration out", "migration in", ... */
	char job_phase[32];		/* e.g. "perform3", "prepare", "postcopy_failed" */
	unsigned long job_flags;	/* the job's API flags (virDomainMigrateFlags for
					 * a migration), <job flags='0x...'> */
	bool has_job_flags;
	char lib_dir[512];		/* per-domain dir under /var/lib/libvirt/qemu */
	size_t n_nbd;			/* drives on NBD servers (at most MG_DOMXML_MAX_NBD) */
	struct mg_nbd_server nbd[MG_DOMXML_MAX_NBD];
	bool has_action;		/* <migguard:action> present in <metadata> */
	enum mg_action action;
	bool has_postcopy_action;	/* <migguard:postcopy_action> */
	enum mg_pc_action postcopy_action;
};

/* Parses a status XML file (or, when it has no <domstatus>, a plain domain
 * XML: name, uuid and metadata only).  Returns 0, -ENOENT, or -EINVAL with a
 * message in err. */
int mg_domxml_parse_file(const char *path, struct mg_domxml *out, char *err, size_t err_size);
/* Same for a document in memory (virDomainGetXMLDesc output). */
int mg_domxml_parse_string(const char *xml, struct mg_domxml *out, char *err, size_t err_size);
/* run_dir/NAME.xml; run_dir NULL means the default. */
int mg_domxml_read(const char *run_dir, const char *name, struct mg_domxml *out, char *err,
		   size_t err_size);
