# Shipped plugins: shared objects in $(pkglibdir)/plugins (see
# include/migguard/plugin.h).  Only migguard_plugin_v1 is exported.
pluginsdir = $(pkglibdir)/plugins
plugins_LTLIBRARIES = plugins/exec.la
plugins_exec_la_SOURCES = plugins/exec.c
plugins_exec_la_CFLAGS = $(AM_CFLAGS) -fvisibility=default
plugins_exec_la_LDFLAGS = $(AM_LDFLAGS) -module -avoid-version -shared \
	-export-symbols-regex '^migguard_plugin_v1$$'
pkginclude_HEADERS = include/migguard/plugin.h

check_PROGRAMS += tests/unit/test_plugin
TESTS += tests/unit/test_plugin
tests_unit_test_plugin_SOURCES = tests/unit/test_plugin.c
tests_unit_test_plugin_CPPFLAGS = $(AM_CPPFLAGS) -DMG_TEST_PLUGINDIR=\"$(abs_top_builddir)/plugins/.libs\"
tests_unit_test_plugin_CFLAGS = $(MG_UNIT_CFLAGS)
tests_unit_test_plugin_LDADD = $(MG_UNIT_LDADD)
tests_unit_test_plugin_DEPENDENCIES = libmgcore.la libmgsnapshot.la libmgbase.la plugins/exec.la
