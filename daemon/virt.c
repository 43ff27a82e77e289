/* virt.c - being written. */
