/* fuzz_domxml - libvirt's domain and status XML as domxml.c reads it
 * (/run/libvirt/qemu/NAME.xml while libvirt hangs, virDomainGetXMLDesc
 * output): from memory and from a file, which must agree. */
#include "domxml.h"
#include "fuzz.h"

static char path[PATH_MAX];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	snprintf(path, sizeof(path), "%s/dom.xml", fuzz_setup("domxml"));
	return 0;
}

static void check(const struct mg_domxml *d)
{
	/* Every field is a terminated string of its own size. */
	if (!memchr(d->name, '\0', sizeof(d->name)) || !memchr(d->uuid, '\0', sizeof(d->uuid)) ||
	    !memchr(d->state, '\0', sizeof(d->state)) || !memchr(d->monitor_path, '\0', sizeof(d->monitor_path)) ||
	    !memchr(d->async_job, '\0', sizeof(d->async_job)) || !memchr(d->lib_dir, '\0', sizeof(d->lib_dir)) ||
	    d->pid < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *xml = fuzz_strndup(data, size), err[256];
	struct mg_domxml d, f;
	int rd, rf;

	memset(&d, 0, sizeof(d));
	memset(&f, 0, sizeof(f));
	rd = mg_domxml_parse_string(xml, &d, err, sizeof(err));
	if (rd == 0)
		check(&d);
	fuzz_write_file(path, data, size);
	rf = mg_domxml_parse_file(path, &f, err, sizeof(err));
	if (rf == 0)
		check(&f);
	/* The same document read from memory or from its file means the same
	 * (a NUL ends the string, not the file). */
	if (!memchr(data, '\0', size) && (rd != rf || (rd == 0 && memcmp(&d, &f, sizeof(d)) != 0)))
		abort();
	free(xml);
	return 0;
}
