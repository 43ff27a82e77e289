/* conf.c - being written. */
