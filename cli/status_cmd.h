/* status_cmd.h - `migguard status`: what migguardd watches right now, from
 * the STATE_DIR/status.json it keeps (status.c). */
#pragma once

/* argv[0] is "status".  Exit 0 when the daemon runs, 3 when it does not
 * (no file, or the file's pid is gone), as `systemctl status` does. */
int mg_cli_status(int argc, char **argv);
