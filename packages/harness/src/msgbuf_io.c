/* msgbuf device helpers shared by the msgbuf tests and its race tests: one message per open. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"


ssize_t dev_write_msg(const char *path, const void *buf, size_t len, int *err)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		*err = errno;
		return -2;
	}
	ssize_t r = write(fd, buf, len);
	*err = r < 0 ? errno : 0;
	close(fd);
	return r;
}

ssize_t dev_read_msg(const char *path, unsigned char *buf, size_t cap, int *err, int *overflow)
{
	*overflow = 0;
	*err = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*err = errno;
		return -2;
	}
	size_t total = 0;
	static __thread unsigned char chunk[8192];
	for (int calls = 0; calls < 4096; calls++) {
		ssize_t r = read(fd, chunk, sizeof(chunk));
		if (r < 0) {
			*err = errno;
			close(fd);
			return -1;
		}
		if (r == 0) {
			close(fd);
			return (ssize_t)total;
		}
		if ((size_t)r > sizeof(chunk)) { /* cannot happen unless the driver lies */
			*err = EOVERFLOW;
			close(fd);
			return -1;
		}
		size_t n = (size_t)r;
		if (total + n > cap) {
			memcpy(buf + total, chunk, cap - total);
			total = cap;
			*overflow = 1;
			close(fd);
			return (ssize_t)total;
		}
		memcpy(buf + total, chunk, n);
		total += n;
	}
	*overflow = 1;
	close(fd);
	return (ssize_t)total;
}

int compare_msg(struct ctx *c, const char *what, const unsigned char *want, size_t wantlen,
		const unsigned char *got, size_t gotlen)
{
	size_t n = wantlen < gotlen ? wantlen : gotlen;
	size_t i = 0;
	while (i < n && want[i] == got[i])
		i++;
	if (i == n && wantlen == gotlen)
		return 0;
	if (i == n)
		fail(c, "%s: expected %zu bytes, read %zu bytes (the first %zu match)\n", what, wantlen,
		     gotlen, n);
	else
		fail(c, "%s: expected %zu bytes, read %zu bytes; first difference at offset %zu\n", what,
		     wantlen, gotlen, i);
	size_t from = i >= 16 ? i - 16 : 0;
	out(c, "expected (from offset %zu):\n", from);
	out_hex(c, want, wantlen, from, 48);
	out(c, "read:\n");
	out_hex(c, got, gotlen, from, 48);
	return -1;
}

