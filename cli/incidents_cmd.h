/* incidents_cmd.h - `migguard incidents [list]` and `migguard incidents show ID`:
 * read the incident store written by migguardd (incident.c). */
#pragma once

/* argv[0] is "incidents".  Returns a process exit status. */
int mg_cli_incidents(int argc, char **argv);
