# tests/targets: the processes the snapshot tests take apart.

# The deadlocked process of DESIGN.md section 1.  Its frames must survive
# any CFLAGS the user gives (which come last): no inlining, no tail calls.
check_PROGRAMS += tests/targets/deadlock
tests_targets_deadlock_SOURCES = tests/targets/deadlock.c
tests_targets_deadlock_CFLAGS = -std=gnu11 -g -O0 -fno-omit-frame-pointer -fno-inline \
	-fno-optimize-sibling-calls -pthread -Wall -Wextra -Wno-unused-parameter $(WERROR_CFLAGS)
tests_targets_deadlock_LDFLAGS = -pthread

# The same program without symbols, as shipped binaries often are.
tests/targets/deadlock-stripped: tests/targets/deadlock$(EXEEXT)
	$(AM_V_GEN)strip_cmd='$(STRIP)'; $${strip_cmd:-strip} -o $@ tests/targets/deadlock$(EXEEXT)
CLEANFILES += tests/targets/deadlock-stripped
check-integration: tests/targets/deadlock-stripped
check_SCRIPTS = tests/targets/deadlock-stripped

# A thread blocked inside always_inline functions (issue 11): at -O2 -g
# they exist only in DWARF, as QEMU's prepare_mmio_access does.  No tail
# calls, so every caller stays a frame whatever CFLAGS the user adds.
check_PROGRAMS += tests/targets/inline
tests_targets_inline_SOURCES = tests/targets/inline.c
tests_targets_inline_CFLAGS = -std=gnu11 -g -O2 -fno-optimize-sibling-calls -pthread \
	-Wall -Wextra $(WERROR_CFLAGS)
tests_targets_inline_LDFLAGS = -pthread

# A process hung the way QEMU hangs at switch-over (live_migration holds
# the BQL and waits on a socket), for the unstick tests.  Frames as in
# deadlock: no inlining, no tail calls.
check_PROGRAMS += tests/targets/stall
tests_targets_stall_SOURCES = tests/targets/stall.c
tests_targets_stall_CFLAGS = -std=gnu11 -g -O0 -fno-omit-frame-pointer -fno-inline \
	-fno-optimize-sibling-calls -pthread -Wall -Wextra -Wno-unused-parameter $(WERROR_CFLAGS)
tests_targets_stall_LDFLAGS = -pthread
