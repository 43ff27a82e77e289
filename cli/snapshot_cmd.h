/* snapshot_cmd.h - `migguard snapshot PID|--domain NAME`: the built-in
 * stack snapshot (daemon/snapshot/) of a running process, as text or JSON. */
#pragma once

/* argv[0] is "snapshot".  Returns a process exit status. */
int mg_cli_snapshot(int argc, char **argv);
