# tests/unit build rules (owned by the area's author)
# Unit test programs (Check) for the core helpers, config and event loop.
# Fixture files live in tests/data/; the tests find them through
# MG_TEST_DATADIR, an absolute source path, so VPATH builds and distcheck work.
MG_UNIT_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS) $(CHECK_CFLAGS) \
	-DMG_TEST_DATADIR=\"$(abs_top_srcdir)/tests/data\"
MG_UNIT_LDADD = libmgcore.la $(DEPS_LIBS) $(CHECK_LIBS)

check_PROGRAMS += tests/unit/test_util tests/unit/test_conf tests/unit/test_event
TESTS += tests/unit/test_util tests/unit/test_conf tests/unit/test_event

tests_unit_test_util_SOURCES = tests/unit/test_util.c
tests_unit_test_util_CFLAGS = $(MG_UNIT_CFLAGS)
tests_unit_test_util_LDADD = $(MG_UNIT_LDADD)

tests_unit_test_conf_SOURCES = tests/unit/test_conf.c
tests_unit_test_conf_CFLAGS = $(MG_UNIT_CFLAGS)
tests_unit_test_conf_LDADD = $(MG_UNIT_LDADD)

tests_unit_test_event_SOURCES = tests/unit/test_event.c
tests_unit_test_event_CFLAGS = $(MG_UNIT_CFLAGS)
tests_unit_test_event_LDADD = $(MG_UNIT_LDADD)

EXTRA_DIST += tests/unit/mgcheck.h
# A directory in EXTRA_DIST is copied whole into the tarball.
EXTRA_DIST += tests/data/conf

# The watch and the ladder on a scripted QMP peer (qmppeer.c) with the
# capturing sink: no QEMU, no libvirt.  The ladder lives in the daemon
# program, not in libmgcore: its source is built into its test.
check_PROGRAMS += tests/unit/test_watch tests/unit/test_ladder
TESTS += tests/unit/test_watch tests/unit/test_ladder
tests_unit_test_watch_SOURCES = tests/unit/test_watch.c tests/unit/qmppeer.c tests/unit/qmppeer.h \
	tests/unit/mgloop.h tests/unit/mgsink.h
tests_unit_test_watch_CFLAGS = $(MG_UNIT_CFLAGS)
tests_unit_test_watch_LDADD = $(MG_UNIT_LDADD)
tests_unit_test_ladder_SOURCES = tests/unit/test_ladder.c tests/unit/qmppeer.c tests/unit/qmppeer.h \
	tests/unit/mgloop.h tests/unit/mgsink.h daemon/ladder.c daemon/ladder.h
tests_unit_test_ladder_CFLAGS = $(MG_UNIT_CFLAGS)
tests_unit_test_ladder_LDADD = $(MG_UNIT_LDADD)
