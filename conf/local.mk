# conf: the shipped configuration, the systemd unit, the tmpfiles.d entry,
# the journal catalog, the known-issue signatures and the man pages.

sysconf_migguarddir = $(sysconfdir)/migguard
# Made by make: its documented defaults name this build's directories
# (plugin_dir, signatures_dir), which conf_unit_verify checks.
sysconf_migguard_DATA = conf/migguard.conf

# The unit and the tmpfiles entry are made by make, not by configure, so
# that @sbindir@ is the fully expanded path of this build (also under
# `make distcheck`).
systemdsystemunit_DATA = conf/migguardd.service
# Installed as $(tmpfilesdir)/migguard.conf: make writes it under that name
# in a directory of its own.
tmpfiles_DATA = conf/tmpfiles.d/migguard.conf

mg_conf_edit = $(SED) \
	-e 's|@sbindir[@]|$(sbindir)|g' \
	-e 's|@sysconfdir[@]|$(sysconfdir)|g' \
	-e 's|@localstatedir[@]|$(localstatedir)|g' \
	-e 's|@runstatedir[@]|$(runstatedir)|g' \
	-e 's|@pkglibdir[@]|$(pkglibdir)|g' \
	-e 's|@pkgdatadir[@]|$(pkgdatadir)|g'

conf/migguardd.service: $(top_srcdir)/conf/migguardd.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) $(@D) && rm -f $@ $@.tmp && \
	$(mg_conf_edit) $(top_srcdir)/conf/migguardd.service.in >$@.tmp && \
	mv $@.tmp $@

conf/migguard.conf: $(top_srcdir)/conf/migguard.conf.in Makefile
	$(AM_V_GEN)$(MKDIR_P) $(@D) && rm -f $@ $@.tmp && \
	$(mg_conf_edit) $(top_srcdir)/conf/migguard.conf.in >$@.tmp && \
	mv $@.tmp $@

conf/tmpfiles.d/migguard.conf: $(top_srcdir)/conf/migguard.tmpfiles Makefile
	$(AM_V_GEN)$(MKDIR_P) $(@D) && rm -f $@ $@.tmp && \
	$(mg_conf_edit) $(top_srcdir)/conf/migguard.tmpfiles >$@.tmp && \
	mv $@.tmp $@

# The journal catalog: one entry per MESSAGE_ID of daemon/msgid.h, checked
# by tests/unit/check_catalog.sh.  Installed as is (no @...@ of configure in
# it: its @FIELD@s are journalctl's).
dist_catalog_DATA = conf/migguard.catalog
TESTS += tests/unit/check_catalog.sh
EXTRA_DIST += tests/unit/check_catalog.sh

EXTRA_DIST += conf/migguardd.service.in conf/migguard.conf.in conf/migguard.tmpfiles
CLEANFILES += conf/migguardd.service conf/migguard.conf conf/tmpfiles.d/migguard.conf

dist_man_MANS += man/migguardd.8 man/migguard.conf.5

# The unit and tmpfiles directories come from pkg-config as absolute paths
# (/lib/systemd/system); distcheck installs below its own prefix instead.
AM_DISTCHECK_CONFIGURE_FLAGS = \
	--with-systemdsystemunitdir='$$(prefix)/lib/systemd/system' \
	--with-tmpfilesdir='$$(prefix)/lib/tmpfiles.d' \
	--with-catalogdir='$$(prefix)/lib/systemd/catalog'

INTEGRATION_TESTS += tests/integration/conf_unit_verify.sh

# Known-issue signatures (format: conf/signatures/README).
signaturesdir = $(pkgdatadir)/signatures
dist_signatures_DATA = conf/signatures/README \
	conf/signatures/qemu-bfa36802d170-virtio-blk-irqfd.sig \
	conf/signatures/storage-stall-switchover.sig

dist_man_MANS += man/migguard.1
