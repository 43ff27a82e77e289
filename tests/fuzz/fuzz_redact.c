/* fuzz_redact - mg_incident_redact (daemon/incident.c): the QEMU command
 * line as read from /proc/PID/cmdline (NULs become spaces), first in a
 * buffer exactly as large as the string (as mg_incident_read_cmdline fills
 * its buffer to size - 1), then with room to grow.  No byte may be written
 * outside the buffer, the result stays terminated, and no value of
 * password= survives. */
#include "incident.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_setup("redact");
	return 0;
}

/* A "password=" at a key boundary whose value is neither empty nor stars
 * is a secret left in the incident. */
static bool password_left(const char *s)
{
	for (const char *p = strstr(s, "password="); p; p = strstr(p + 1, "password=")) {
		const char *v = p + strlen("password=");

		if (p != s && !strchr(" ,-{\"'", p[-1]))
			continue;
		if (*v && *v != ',' && *v != ' ' && *v != '*')
			return true;
	}
	return false;
}

static void redact(const uint8_t *data, size_t size, size_t room)
{
	char *s = malloc(size + 1 + room);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	for (size_t i = 0; i < size; i++)
		if (s[i] == '\0')
			s[i] = ' ';
	mg_incident_redact(s, size + 1 + room);
	if (!memchr(s, '\0', size + 1 + room) || password_left(s))
		abort();
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	redact(data, size, 0);
	redact(data, size, 16);
	return 0;
}
