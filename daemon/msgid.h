/* msgid.h - the journal MESSAGE_IDs of migguardd, in one place.
 *
 * Each id is a 128-bit value (systemd-id128 new) that operators and their
 * alerting filter on (journalctl MESSAGE_ID=...), and that the journal
 * catalog conf/migguard.catalog explains (journalctl -x): never change or
 * reuse one.  tests/unit/check_catalog.sh fails `make check` when an id
 * here has no catalog entry, when the catalog explains an id that is not
 * here, or when a source file spells a MESSAGE_ID outside this header.
 *
 * The ladder has one id per step rather than one "action done" id with the
 * step in a field: what happened and what the operator must do next differ
 * per step (a refused cancel needs nothing, a kill lost the guest's memory,
 * a failed restart leaves the domain down), and journalctl -x shows one
 * text per id.  Every ladder message also carries MIGGUARD_STEP and
 * MIGGUARD_RESULT, so one filter on the fields still finds all steps. */
#pragma once

/* The verdicts (watch.c): fields MIGGUARD_DOMAIN, _UUID, _PID, _PHASE. */
#define MG_MESSAGE_HUNG "5b0d8f1c6a2e4f7b9c3d1e0a2b4c6d8e"
#define MG_MESSAGE_STALLED "7e1f3a5c9b2d4e6f8a0c2e4b6d8f0a1c"

/* The incident (incwriter.c): written (MIGGUARD_INCIDENT is its directory),
 * or not written with the evidence in the entry itself. */
#define MG_MESSAGE_INCIDENT "2f6c8a0e4b1d4c3a9e5f7b2d0c4a6e8f"
#define MG_MESSAGE_INCIDENT_UNWRITTEN "7d3e1b5a9c2f4e6a8b0d1c3e5f7a9b2d"

/* The ladder (ladder.c), one per enum mg_ladder_step: fields
 * MIGGUARD_DOMAIN, _UUID, _PID, _STEP, _RESULT ("ok" or the error) and
 * MIGGUARD_INCIDENT when an incident was written. */
#define MG_MESSAGE_ACTION_CANCEL "f20d5ca8fd734790a59bff800094708b"
#define MG_MESSAGE_ACTION_CANCEL_CHECK "1083ca9b13d0485184727af5e2831ca0"
#define MG_MESSAGE_ACTION_UNSTICK "e3eb3571c6be40008d13d965c2140b30"
#define MG_MESSAGE_ACTION_UNSTICK_CHECK "a77874a63e0744ae93c3a606ef8abb1a"
#define MG_MESSAGE_ACTION_YANK "9164155adeec4ff69b4e965f30ed8940"
#define MG_MESSAGE_ACTION_RECOVER_CHECK "e7316782cdb24ab488de988e7534b07c"
#define MG_MESSAGE_ACTION_KILL "493a55355dd34dd0b7bda68703c0b47d"
#define MG_MESSAGE_ACTION_KILL_CHECK "b012783f15b141cdb6545006a34b3b1a"
#define MG_MESSAGE_ACTION_CORE "7f27b745c7084ee6bf10baf1305ace42"
#define MG_MESSAGE_ACTION_RESTART "b995087236064d949caf591b83995288"
#define MG_MESSAGE_ACTION_DISK_CHECK "d2c1bad9ce0a4770b841cd7ea82f29a2"
#define MG_MESSAGE_ACTION_DESTROY "3579e45c85f14023a66cafafa7531fcb"
#define MG_MESSAGE_ACTION_DESTROY_CHECK "19f83b7669694493a6bf37f7eb77ecc7"

/* The post-copy guard (postcopy.c): fields as the ladder's, MIGGUARD_STEP
 * postcopy-break, postcopy-pause, postcopy-resume or postcopy-lost. */
#define MG_MESSAGE_POSTCOPY_BREAK "aacebfae38844e51b99bd96f0de55248"
#define MG_MESSAGE_POSTCOPY_PAUSE "af529b42f1f24ccc993a76bdbb46dd67"
#define MG_MESSAGE_POSTCOPY_RESUME "e1e3ccbdc12c4e63a493fc30e2de77da"
#define MG_MESSAGE_POSTCOPY_LOST "d9047411d9844cd7b8615c9fe3cf12cd"
