/* sockfacts.c - see sockfacts.h. */
#include "sockfacts.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MG_DIAG_BUF 32768

static int cmp_unix(const void *a, const void *b)
{
	const struct mg_unix_sock *x = a, *y = b;

	return (x->ino > y->ino) - (x->ino < y->ino);
}

static int add_unix(struct mg_unix_sock **v, size_t *n, size_t *cap, const struct nlmsghdr *h)
{
	const struct unix_diag_msg *m = NLMSG_DATA(h);
	struct rtattr *a = (struct rtattr *)(m + 1);
	int len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*m)));
	struct mg_unix_sock *s;

	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 256;
		void *nv = realloc(*v, nc * sizeof(**v));

		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = nc;
	}
	s = &(*v)[(*n)++];
	s->ino = m->udiag_ino;
	s->peer = 0;
	s->rqueue = -1;
	for (; RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == UNIX_DIAG_PEER && RTA_PAYLOAD(a) >= sizeof(uint32_t))
			s->peer = *(const uint32_t *)RTA_DATA(a);
		else if (a->rta_type == UNIX_DIAG_RQLEN && RTA_PAYLOAD(a) >= sizeof(struct unix_diag_rqlen))
			s->rqueue = ((const struct unix_diag_rqlen *)RTA_DATA(a))->udiag_rqueue;
	}
	return 0;
}

int mg_sockfacts_unix(struct mg_unix_sock **out, size_t *n)
{
	_cleanup_close_ int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	struct {
		struct nlmsghdr nlh;
		struct unix_diag_req req;
	} msg = {
		.nlh = { .nlmsg_len = sizeof(msg), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.req = { .sdiag_family = AF_UNIX, .udiag_states = (uint32_t)-1,
			 .udiag_show = UDIAG_SHOW_PEER | UDIAG_SHOW_RQLEN },
	};
	_cleanup_free_ char *buf = malloc(MG_DIAG_BUF);
	struct mg_unix_sock *v = NULL;
	size_t cap = 0;
	int r = 0;

	*out = NULL;
	*n = 0;
	if (fd < 0)
		return -errno;
	if (!buf)
		return -ENOMEM;
	if (send(fd, &msg, sizeof(msg), 0) < 0)
		return -errno;
	for (bool done = false; !done && r == 0;) {
		ssize_t len = recv(fd, buf, MG_DIAG_BUF, 0);
		struct nlmsghdr *h = (struct nlmsghdr *)buf;

		if (len <= 0)
			break;
		for (; r == 0 && NLMSG_OK(h, (size_t)len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
				done = true;
				break;
			}
			r = add_unix(&v, n, &cap, h);
		}
	}
	if (v)
		qsort(v, *n, sizeof(*v), cmp_unix);
	*out = v;
	return r;
}

const struct mg_unix_sock *mg_sockfacts_unix_find(const struct mg_unix_sock *v, size_t n, uint64_t ino)
{
	struct mg_unix_sock key = { .ino = ino };

	return v ? bsearch(&key, v, n, sizeof(key), cmp_unix) : NULL;
}

size_t mg_sockfacts_tcp(pid_t pid, int proc_dirfd, struct mg_tcp_sock **out)
{
	static const char *const files[] = { "net/tcp", "net/tcp6" };
	struct mg_tcp_sock *v = NULL;
	size_t n = 0, cap = 0;

	for (size_t f = 0; f < MG_ARRAY_SIZE(files); f++) {
		char path[64], line[512];
		_cleanup_fclose_ FILE *fp = NULL;
		int fd;

		if (proc_dirfd >= 0) {
			fd = openat(proc_dirfd, files[f], O_RDONLY | O_CLOEXEC);
		} else {
			snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, files[f]);
			fd = open(path, O_RDONLY | O_CLOEXEC);
		}
		if (fd < 0)
			continue;
		fp = fdopen(fd, "re");
		if (!fp) {
			close(fd);
			continue;
		}
		while (fgets(line, sizeof(line), fp)) {
			struct mg_tcp_sock t;
			unsigned long long tx, rx, ino;

			if (sscanf(line, "%*s %63s %63s %x %llx:%llx %*s %*s %*s %*s %llu", t.local, t.remote, &t.state,
				   &tx, &rx, &ino) != 6)
				continue;
			if (n == cap) {
				size_t nc = cap ? cap * 2 : 64;
				void *nv = realloc(v, nc * sizeof(*v));

				if (!nv)
					break;
				v = nv;
				cap = nc;
			}
			t.tx = (int64_t)tx;
			t.rx = (int64_t)rx;
			t.inode = ino;
			v[n++] = t;
		}
	}
	*out = v;
	return n;
}

const struct mg_tcp_sock *mg_sockfacts_tcp_find(const struct mg_tcp_sock *v, size_t n, uint64_t ino)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].inode == ino)
			return &v[i];
	return NULL;
}

const struct mg_tcp_sock *mg_sockfacts_tcp_peer(const struct mg_tcp_sock *v, size_t n, const struct mg_tcp_sock *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].local, s->remote) == 0 && strcmp(v[i].remote, s->local) == 0)
			return &v[i];
	return NULL;
}

int mg_sockfacts_tcp_host(const char *addr, char *buf, size_t size)
{
	const char *colon = strrchr(addr, ':');
	size_t len = colon ? (size_t)(colon - addr) : 0;
	unsigned char bytes[16];
	size_t n = len / 8;

	/* The kernel prints each 32-bit word in host order (%08X of the
	 * in-memory value): on little-endian x86 the bytes come reversed. */
	if ((len != 8 && len != 32) || len % 8)
		return -EINVAL;
	for (size_t w = 0; w < n; w++) {
		char word[9];
		uint32_t v;
		char *end;

		memcpy(word, addr + 8 * w, 8);
		word[8] = '\0';
		v = (uint32_t)strtoul(word, &end, 16);
		if (*end)
			return -EINVAL;
		memcpy(bytes + 4 * w, &v, 4);
	}
	if (!inet_ntop(n == 1 ? AF_INET : AF_INET6, bytes, buf, (socklen_t)size))
		return -errno;
	return 0;
}

unsigned mg_sockfacts_tcp_port(const char *addr)
{
	const char *colon = strrchr(addr, ':');
	char *end;
	unsigned long port;

	if (!colon)
		return 0;
	port = strtoul(colon + 1, &end, 16);
	return *end || port > 65535 ? 0 : (unsigned)port;
}
