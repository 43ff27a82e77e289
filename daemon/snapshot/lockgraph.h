/* lockgraph.h - who waits for whom: the wait kind of every thread, edges
 * waiter -> mutex owner, every cycle, and the BQL.  Pure functions of the
 * snapshot's thread facts (unit-tested without processes). */
#pragma once

#include "snapshot/snapshot.h"

/* The name QEMU gives the BQL (system/cpus.c, static). */
#define MG_BQL_SYMBOL "qemu_global_mutex"

/* Sets ->wait and ->owner of every thread (see lockgraph.c for the rule). */
void mg_lockgraph_classify(struct mg_snapshot *snap);
/* Builds snap->locks from the classified threads.  bql_addr is the address
 * of MG_BQL_SYMBOL when symbols gave it, else 0; bql_owner_hint the owner
 * read from its __owner field (used when no thread waits for it).
 * 0 or -ENOMEM. */
int mg_lockgraph_build(struct mg_snapshot *snap, uint64_t bql_addr, pid_t bql_owner_hint);
