/* event.c - being written. */
