/* postcopy.h - the post-copy guard of one migration on one host.
 *
 * Once a migration is in post-copy the guest's memory lives on both hosts:
 * killing or destroying either side loses the guest, so the pre-copy
 * ladder (ladder.h) never runs there.  What can go wrong is the link: on a
 * closed stream QEMU enters postcopy-paused on both ends (libvirt >= 8.5
 * then shows the source paused / postcopy-failed and the destination
 * running / postcopy-failed); a link that black-holes leaves QEMU in
 * postcopy-active with no progress.  This module, per host:
 *
 *  - sees a break: QEMU's MIGRATION status postcopy-paused, libvirt's
 *    POSTCOPY_FAILED lifecycle detail, or a stall - postcopy-active and
 *    QEMU's traffic (mg_postcopy_traffic: no in-band QMP) growing by less
 *    than MG_POSTCOPY_MIN_PROGRESS for postcopy_stall_timeout;
 *  - opens one incident per break (through the owner) and records each
 *    step in it;
 *  - pause (postcopy_action pause or recover): on a stall, forces this
 *    side to postcopy-paused (virDomainAbortJobFlags(POSTCOPY), which is
 *    QMP migrate-pause; when libvirt refuses it, migrate-pause through
 *    libvirt's monitor), at most MG_POSTCOPY_PAUSE_TRIES times;
 *  - recover (source side only, the side libvirt resumes from): once
 *    paused, tries virDomainMigrateToURI3 with the job's own flags plus
 *    POSTCOPY_RESUME and PEER2PEER, to the [postcopy] resume_* templates,
 *    every resume_interval, at most resume_tries times per break; a try
 *    that brings postcopy-active back closes the break;
 *  - never destroys or kills anything.  A QEMU that goes away during
 *    post-copy ends it: the incident says the guest is lost on that side
 *    and that the other side is left for the operator. */
#pragma once

#include <libvirt/libvirt.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "conf.h"
#include "domxml.h"
#include "incwriter.h"
#include "notify.h"
#include "watch.h"
#include "worker.h"

/* Less socket traffic than this in postcopy_stall_timeout is no progress
 * (monitor chatter is a few hundred bytes; one page is 4 KiB). */
#define MG_POSTCOPY_MIN_PROGRESS (64 * 1024)
#define MG_POSTCOPY_PAUSE_TRIES 3

struct mg_postcopy;

/* The libvirt calls, on a worker thread; tests replace them.  Each
 * returns 0 or a negative errno, with libvirt's message in err. */
struct mg_postcopy_ops {
	int (*pause)(virDomainPtr dom, char *err, size_t size);
	int (*resume)(virDomainPtr dom, const char *dconnuri, const char *migrate_uri, const char *listen_address,
		      unsigned long flags, char *err, size_t size);
};

struct mg_postcopy_callbacks {
	/* A break: the owner starts the incident (summary is its paragraph)
	 * and returns a reference to its writer, or NULL. */
	struct mg_incwriter *(*open_incident)(struct mg_postcopy *pc, const char *summary, void *userdata);
};

struct mg_postcopy_params {
	struct mg_watch *watch;		/* name, uuid, pid, direction, timeline notes */
	virDomainPtr dom;		/* NULL: nothing can be done through libvirt */
	struct mg_worker_pool *pool;	/* required with dom */
	struct mg_notify *notify;	/* "action" events; may be NULL */
	enum mg_pc_action action;
	uint64_t probe_interval;	/* how often progress is read */
	uint64_t stall_timeout;
	uint64_t step_timeout;		/* a pause call's deadline */
	/* The resume: templates as in the config, expanded at each try. */
	const char *resume_uri, *resume_migrate_uri, *resume_listen_address;
	uint64_t resume_interval;
	unsigned resume_tries;
	unsigned long job_flags;	/* the migration's API flags (status XML) */
	bool has_job_flags;
	const char *peer_address;	/* %a: the destination's address, or NULL */
	const struct mg_nbd_server *nbd; /* the drives' NBD servers (status XML): */
	size_t n_nbd;			/* their traffic is not the migration's */
	const struct mg_postcopy_ops *ops;	/* NULL: libvirt's (needs dom); tests
						 * give theirs and no dom */
};

/* Starts watching; the migration is in post-copy now.  0 or -errno. */
int mg_postcopy_new(sd_event *loop, const struct mg_postcopy_params *p, const struct mg_postcopy_callbacks *cb,
		    void *userdata, struct mg_postcopy **out);
/* Lets go of any call in flight (it finishes on its own) and of the
 * incident.  NULL is fine.  Returns NULL. */
struct mg_postcopy *mg_postcopy_free(struct mg_postcopy *pc);

/* QEMU's migration status (MIGRATION event, query-migrate): postcopy-active,
 * postcopy-paused, postcopy-recover, completed, failed, ... */
void mg_postcopy_on_status(struct mg_postcopy *pc, const char *status, const char *source);
/* libvirt says the post-copy failed (SUSPENDED or RESUMED with detail
 * POSTCOPY_FAILED).  Ignored while QEMU's last status is postcopy-active or
 * -recover: libvirt 9.0 also says so after a resume that worked. */
void mg_postcopy_on_failed(struct mg_postcopy *pc, const char *why);
/* This side's QEMU is gone (not by a completed migration). */
void mg_postcopy_on_qemu_gone(struct mg_postcopy *pc, const char *why);
/* The migration ended (completed, failed, cancelled). */
void mg_postcopy_on_end(struct mg_postcopy *pc, enum mg_phase final, const char *why);

/* A libvirt call of it is in flight. */
bool mg_postcopy_busy(const struct mg_postcopy *pc);
/* Breaks seen so far, and resume tries of the current (or last) one. */
unsigned mg_postcopy_breaks(const struct mg_postcopy *pc);
bool mg_postcopy_broken(const struct mg_postcopy *pc);

/* The destination's address (%a) as the peer of pid's migration stream:
 * the one remote host among pid's established TCP connections that pid
 * opened itself (not accepted on a port it listens on) and that is not a
 * drive's NBD server.  Read once post-copy starts, while the link still
 * works.  0, -ENOENT (none), -ENOTUNIQ (several hosts), -errno. */
int mg_postcopy_migration_peer(pid_t pid, const struct mg_nbd_server *nbd, size_t n_nbd, char *buf, size_t size);

/* QEMU's traffic so far, the stall measure: rchar + wchar of /proc/PID/io
 * (write(2)/read(2) on pipes and sockets) plus, for each of its
 * established TCP streams that is not a drive's NBD server, the bytes the
 * peer acknowledged and the bytes received (TCP_INFO on a duplicate taken
 * through pidfd, closed at once; QEMU's channels use sendmsg(2), which
 * /proc/PID/io does not count).  0 or -errno. */
int mg_postcopy_traffic(pid_t pid, int pidfd, const struct mg_nbd_server *nbd, size_t n_nbd, uint64_t *out);

/* Step names in incidents, events and the journal (MIGGUARD_STEP). */
#define MG_POSTCOPY_STEP_BREAK "postcopy-break"
#define MG_POSTCOPY_STEP_PAUSE "postcopy-pause"
#define MG_POSTCOPY_STEP_RESUME "postcopy-resume"
#define MG_POSTCOPY_STEP_LOST "postcopy-lost"
