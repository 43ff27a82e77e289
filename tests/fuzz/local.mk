# tests/fuzz: libFuzzer targets,
# built only with ./configure --enable-fuzzing (clang), and `make fuzz-smoke`.
# The sources, seed corpora and regression inputs are always distributed.

FUZZ_TARGETS = fuzz_qmp fuzz_guard fuzz_conf fuzz_signature fuzz_domxml fuzz_incidents \
	fuzz_status fuzz_redact fuzz_state
# Seconds each target runs in `make fuzz-smoke`, and how many run at once.
FUZZ_SECONDS = 20
FUZZ_JOBS = 2

EXTRA_DIST += tests/fuzz/README.md tests/fuzz/fuzz.h tests/fuzz/smoke.sh tests/fuzz/qmp.dict \
	tests/fuzz/corpus tests/fuzz/regressions tests/fuzz/open \
	tests/fuzz/fuzz_qmp.c tests/fuzz/fuzz_guard.c tests/fuzz/fuzz_conf.c tests/fuzz/fuzz_signature.c \
	tests/fuzz/fuzz_domxml.c tests/fuzz/fuzz_incidents.c tests/fuzz/fuzz_status.c tests/fuzz/fuzz_redact.c \
	tests/fuzz/fuzz_state.c

if MG_FUZZING
MG_FUZZ_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS) -I$(top_srcdir)/cli -I$(top_srcdir)/tests/fuzz
MG_FUZZ_LINK = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
MG_FUZZ_LDADD = $(MG_DAEMON_LIBS)

noinst_PROGRAMS += tests/fuzz/fuzz_qmp tests/fuzz/fuzz_guard tests/fuzz/fuzz_conf \
	tests/fuzz/fuzz_signature tests/fuzz/fuzz_domxml tests/fuzz/fuzz_incidents \
	tests/fuzz/fuzz_status tests/fuzz/fuzz_redact tests/fuzz/fuzz_state

tests_fuzz_fuzz_qmp_SOURCES = tests/fuzz/fuzz_qmp.c
tests_fuzz_fuzz_qmp_CFLAGS = $(MG_FUZZ_CFLAGS)
tests_fuzz_fuzz_qmp_LDFLAGS = $(MG_FUZZ_LINK)
tests_fuzz_fuzz_qmp_LDADD = $(MG_FUZZ_LDADD)

# The consumers are compiled in: they live in migguardd, not libmgcore.
tests_fuzz_fuzz_guard_SOURCES = tests/fuzz/fuzz_guard.c daemon/standalone.c daemon/guard.c daemon/ladder.c daemon/report.c
tests_fuzz_fuzz_guard_CFLAGS = $(MG_FUZZ_CFLAGS)
tests_fuzz_fuzz_guard_LDFLAGS = $(MG_FUZZ_LINK)
tests_fuzz_fuzz_guard_LDADD = $(MG_FUZZ_LDADD)

tests_fuzz_fuzz_conf_SOURCES = tests/fuzz/fuzz_conf.c
tests_fuzz_fuzz_conf_CFLAGS = $(MG_FUZZ_CFLAGS)
tests_fuzz_fuzz_conf_LDFLAGS = $(MG_FUZZ_LINK)
tests_fuzz_fuzz_conf_LDADD = $(MG_FUZZ_LDADD)

tests_fuzz_fuzz_signature_SOURCES = tests/fuzz/fuzz_signature.c
tests_fuzz_fuzz_signature_CFLAGS = $(MG_FUZZ_CFLAGS)
tests_fuzz_fuzz_signature_LDFLAGS = $(MG_FUZZ_LINK)
tests_fuzz_fuzz_signature_LDADD = $(MG_FUZZ_LDADD)

tests_fuzz_fuzz_domxml_SOURCES = tests/fuzz/fuzz_domxml.c
tests_fuzz_fuzz_domxml_CFLAGS = $(MG_FUZZ_CFLAGS)
tests_fuzz_fuzz_domxml_LDFLAGS = $(MG_FUZZ_LINK)
tests_fuzz_fuzz_domxml_LDADD = $(MG_FUZZ_LDADD)

tests_fuzz_fuzz_incidents_SOURCES = tests/fuzz/fuzz_incidents.c cli/incidents_cmd.c cli/common.c
tests_fuzz_fuzz_incidents_CFLAGS = $(MG_FUZZ_CFLAGS)
tests_fuzz_fuzz_incidents_LDFLAGS = $(MG_FUZZ_LINK)
tests_fuzz_fuzz_incidents_LDADD = $(MG_FUZZ_LDADD)

tests_fuzz_fuzz_status_SOURCES = tests/fuzz/fuzz_status.c cli/status_cmd.c cli/common.c
tests_fuzz_fuzz_status_CFLAGS = $(MG_FUZZ_CFLAGS)
tests_fuzz_fuzz_status_LDFLAGS = $(MG_FUZZ_LINK)
tests_fuzz_fuzz_status_LDADD = $(MG_FUZZ_LDADD)

tests_fuzz_fuzz_redact_SOURCES = tests/fuzz/fuzz_redact.c
tests_fuzz_fuzz_redact_CFLAGS = $(MG_FUZZ_CFLAGS)
tests_fuzz_fuzz_redact_LDFLAGS = $(MG_FUZZ_LINK)
tests_fuzz_fuzz_redact_LDADD = $(MG_FUZZ_LDADD)

tests_fuzz_fuzz_state_SOURCES = tests/fuzz/fuzz_state.c
tests_fuzz_fuzz_state_CFLAGS = $(MG_FUZZ_CFLAGS)
tests_fuzz_fuzz_state_LDFLAGS = $(MG_FUZZ_LINK)
tests_fuzz_fuzz_state_LDADD = $(MG_FUZZ_LDADD)

# Replays tests/fuzz/regressions/TARGET/*, then fuzzes each target for
# FUZZ_SECONDS from its seed corpus (new inputs go to fuzz-out/TARGET/);
# fails on any crash, leak or timeout and prints the executions per target.
# Longer: make fuzz-smoke FUZZ_SECONDS=600; one: FUZZ_TARGETS=fuzz_qmp.
fuzz-smoke: $(noinst_PROGRAMS)
	@FUZZ_SECONDS='$(FUZZ_SECONDS)' FUZZ_JOBS='$(FUZZ_JOBS)' \
		$(SHELL) $(top_srcdir)/tests/fuzz/smoke.sh $(top_srcdir)/tests/fuzz $(top_builddir)/tests/fuzz \
		$(top_builddir)/fuzz-out $(FUZZ_TARGETS)
else
fuzz-smoke:
	@echo "fuzz-smoke: this build has no fuzz targets; configure with CC=clang --enable-fuzzing (or run scripts/fuzz.sh)" >&2; exit 1
endif
.PHONY: fuzz-smoke
