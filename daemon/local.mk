# The guard logic: tracker (pure state machine).
libmgcore_la_SOURCES += daemon/tracker.c daemon/tracker.h

check_PROGRAMS += tests/unit/test_tracker
TESTS += tests/unit/test_tracker
tests_unit_test_tracker_SOURCES = tests/unit/test_tracker.c
tests_unit_test_tracker_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_tracker_LDADD = libmgcore.la $(DEPS_LIBS) $(CHECK_LIBS)
