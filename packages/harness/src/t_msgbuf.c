/* msgbuf semantics: single-threaded tests against the fixed device (see PROTOCOL.md). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"

#define READ_CAP (MSG_MAX * 4) /* more than this without end of message: read never returns 0 */

static unsigned char got[READ_CAP];

static const char *dev_or_skip(struct ctx *c)
{
	const char *d = main_device(c);
	if (!d) {
		set_status(c, "skip");
		out(c, "skipped: no device");
	}
	return d;
}

/* Writes len bytes as one message; on any problem fails the test and returns -1. */
static int put(struct ctx *c, const char *dev, const unsigned char *msg, size_t len)
{
	int e;
	ssize_t r = dev_write_msg(dev, msg, len, &e);
	if (r == -2) {
		fail(c, "open(%s, O_WRONLY): %s\n", dev, strerror(e));
		return -1;
	}
	if (r < 0) {
		fail(c, "write of a %zu-byte message failed: %s (%s)\n", len, errname(e), strerror(e));
		return -1;
	}
	if ((size_t)r != len) {
		fail(c, "write of a %zu-byte message returned %zd (expected %zu)\n", len, r, len);
		return -1;
	}
	return 0;
}

/* Reads the whole current message from a fresh open; fails the test and returns -1 on errors. */
static ssize_t get(struct ctx *c, const char *dev)
{
	int e, overflow;
	ssize_t n = dev_read_msg(dev, got, sizeof(got), &e, &overflow);
	if (n == -2) {
		fail(c, "open(%s, O_RDONLY): %s\n", dev, strerror(e));
		return -1;
	}
	if (n < 0) {
		fail(c, "read failed: %s (%s)\n", errname(e), strerror(e));
		return -1;
	}
	if (overflow) {
		fail(c, "read kept returning data past %d bytes without ever returning 0 (does read "
			"ignore or never advance the file offset?)\n", READ_CAP);
		out(c, "first bytes read:\n");
		out_hex(c, got, (size_t)n, 0, 64);
		return -1;
	}
	return n;
}

static int put_get(struct ctx *c, const char *dev, const unsigned char *msg, size_t len,
		   const char *what)
{
	if (put(c, dev, msg, len) < 0)
		return -1;
	ssize_t n = get(c, dev);
	if (n < 0)
		return -1;
	return compare_msg(c, what, msg, len, got, (size_t)n);
}

void t_empty_read(struct ctx *c)
{
	const char *dev = dev_or_skip(c);
	if (!dev)
		return;
	ssize_t n = get(c, dev);
	if (n < 0)
		return;
	if (n != 0) {
		fail(c, "a fresh device should hold an empty message, but read returned %zd bytes:\n", n);
		out_hex(c, got, (size_t)n, 0, 64);
		return;
	}
	out(c, "read returned 0 (empty message)");
}

void t_write_read(struct ctx *c)
{
	const char *dev = dev_or_skip(c);
	if (!dev)
		return;
	long size = test_param_long(c->test, "size", 100);
	if (size < 1 || size > MSG_MAX) {
		error_(c, "bad size parameter %ld (1..%d)", size, MSG_MAX);
		return;
	}
	unsigned char msg[MSG_MAX];
	fill_pattern(msg, (size_t)size, 1);
	if (put_get(c, dev, msg, (size_t)size, "reading back the message") == 0)
		out(c, "wrote and read back %ld bytes", size);
}

void t_replace(struct ctx *c)
{
	const char *dev = dev_or_skip(c);
	if (!dev)
		return;
	unsigned char lng[3000], shrt[10];
	fill_pattern(lng, sizeof(lng), 2);
	fill_pattern(shrt, sizeof(shrt), 3);
	if (put_get(c, dev, lng, sizeof(lng), "reading the 3000-byte message") < 0)
		return;
	if (put_get(c, dev, shrt, sizeof(shrt), "after replacing it with a 10-byte message") < 0)
		return;
	out(c, "a 10-byte message replaced a 3000-byte one");
}

void t_max_size(struct ctx *c)
{
	const char *dev = dev_or_skip(c);
	if (!dev)
		return;
	static unsigned char msg[5000];
	fill_pattern(msg, sizeof(msg), 4);
	if (put_get(c, dev, msg, MSG_MAX, "reading back a 4096-byte message") < 0)
		return;
	out(c, "4096-byte message stored\n");

	fill_pattern(msg, sizeof(msg), 5);
	int e;
	ssize_t r = dev_write_msg(dev, msg, 5000, &e);
	if (r == -2) {
		fail(c, "open(%s, O_WRONLY): %s\n", dev, strerror(e));
		return;
	}
	if (r < 0) {
		if (e == EINVAL || e == EFBIG || e == ENOSPC || e == EMSGSIZE || e == E2BIG ||
		    e == ENOBUFS || e == EOVERFLOW) {
			out(c, "write of 5000 bytes refused with %s\n", errname(e));
			return;
		}
		fail(c, "write of 5000 bytes failed with %s (%s); expected 4096 (truncated) or an "
			"error such as EINVAL/EFBIG/ENOSPC\n", errname(e), strerror(e));
		return;
	}
	if (r != MSG_MAX) {
		fail(c, "write of 5000 bytes returned %zd; expected 4096 (only the first 4096 bytes "
			"stored) or an error such as EINVAL/EFBIG/ENOSPC\n", r);
		return;
	}
	ssize_t n = get(c, dev);
	if (n < 0)
		return;
	if (compare_msg(c, "write of 5000 bytes returned 4096, so the message must be its first 4096 "
			   "bytes", msg, MSG_MAX, got, (size_t)n) == 0)
		out(c, "write of 5000 bytes returned 4096 and stored the first 4096 bytes");
}

void t_read_offsets(struct ctx *c)
{
	const char *dev = dev_or_skip(c);
	if (!dev)
		return;
	long size = test_param_long(c->test, "size", 1000);
	long chunk = test_param_long(c->test, "chunk", 7);
	if (size < 1 || size > MSG_MAX || chunk < 1 || chunk > MSG_MAX) {
		error_(c, "bad size/chunk parameter");
		return;
	}
	unsigned char msg[MSG_MAX];
	fill_pattern(msg, (size_t)size, 6);
	if (put(c, dev, msg, (size_t)size) < 0)
		return;
	int fd = open(dev, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fail(c, "open(%s, O_RDONLY): %s\n", dev, strerror(errno));
		return;
	}
	size_t total = 0;
	int calls = 0, zero = 0;
	unsigned char buf[MSG_MAX];
	while (calls < 4 * MSG_MAX) {
		ssize_t r = read(fd, buf, (size_t)chunk);
		calls++;
		if (r < 0) {
			fail(c, "read #%d (%ld bytes at offset %zu) failed: %s\n", calls, chunk, total,
			     errname(errno));
			close(fd);
			return;
		}
		if (r == 0) {
			zero = 1;
			break;
		}
		if (r > chunk) {
			fail(c, "read #%d asked for %ld bytes but returned %zd\n", calls, chunk, r);
			close(fd);
			return;
		}
		if (total + (size_t)r > sizeof(got)) {
			total = sizeof(got) + 1;
			break;
		}
		memcpy(got + total, buf, (size_t)r);
		total += (size_t)r;
	}
	if (!zero) {
		fail(c, "reading in %ld-byte chunks never returned 0 (after %d reads, %zu bytes)\n",
		     chunk, calls, total);
		close(fd);
		return;
	}
	ssize_t again = read(fd, buf, (size_t)chunk);
	close(fd);
	if (compare_msg(c, "message rebuilt from small reads", msg, (size_t)size, got, total) < 0)
		return;
	if (again != 0) {
		fail(c, "after the end of the message another read returned %zd (expected 0)\n", again);
		return;
	}
	out(c, "%d reads of at most %ld bytes rebuilt the %ld-byte message, then 0", calls - 1, chunk,
	    size);
}

void t_open_resets_offset(struct ctx *c)
{
	const char *dev = dev_or_skip(c);
	if (!dev)
		return;
	unsigned char msg[500];
	fill_pattern(msg, sizeof(msg), 7);
	if (put(c, dev, msg, sizeof(msg)) < 0)
		return;
	int fd1 = open(dev, O_RDONLY | O_CLOEXEC);
	if (fd1 < 0) {
		fail(c, "open(%s, O_RDONLY): %s\n", dev, strerror(errno));
		return;
	}
	unsigned char buf[100];
	ssize_t r = read(fd1, buf, sizeof(buf));
	if (r != (ssize_t)sizeof(buf)) {
		fail(c, "reading 100 bytes of a 500-byte message returned %zd%s%s\n", r,
		     r < 0 ? ": " : "", r < 0 ? errname(errno) : "");
		close(fd1);
		return;
	}
	/* a second open, while the first is still open at offset 100, starts at 0 */
	ssize_t n = get(c, dev);
	if (n >= 0)
		compare_msg(c, "a second open (while another file was at offset 100) must read from 0",
			    msg, sizeof(msg), got, (size_t)n);
	/* and the first file continues where it was */
	unsigned char rest[1000];
	size_t total = 0;
	for (int i = 0; i < 100; i++) {
		r = read(fd1, rest + total, sizeof(rest) - total);
		if (r <= 0)
			break;
		total += (size_t)r;
		if (total == sizeof(rest))
			break;
	}
	close(fd1);
	compare_msg(c, "the first file continuing from offset 100", msg + 100, sizeof(msg) - 100, rest,
		    total);
	/* and the first file, reopened, starts at 0 again */
	n = get(c, dev);
	if (n >= 0 && compare_msg(c, "reopening must read from 0", msg, sizeof(msg), got, (size_t)n) == 0 &&
	    !c->res->status_set)
		out(c, "every new open reads from offset 0; open files keep their own offset");
}

/* ------------------------------------------------------- alloc_failure */

#define FAILSLAB "/sys/kernel/debug/failslab"

void t_alloc_failure(struct ctx *c)
{
	const char *dev = dev_or_skip(c);
	if (!dev)
		return;
	long max = test_param_long(c->test, "max", 8);
	if (max < 1 || max > 1000) {
		error_(c, "bad max parameter %ld", max);
		return;
	}
	if (access(FAILSLAB, F_OK) < 0) {
		error_(c, "%s is missing (FAILSLAB and debugfs are needed)", FAILSLAB);
		return;
	}
	int r = write_file(FAILSLAB "/ignore-gfp-wait", "N");
	if (r < 0) {
		error_(c, "cannot set %s/ignore-gfp-wait: %s", FAILSLAB, strerror(-r));
		return;
	}
	write_file(FAILSLAB "/ignore-gfp-highmem", "N"); /* absent on failslab; harmless */
	write_file(FAILSLAB "/verbose", "0");

	int nth = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
	if (nth < 0) {
		error_(c, "cannot open /proc/thread-self/fail-nth: %s", strerror(errno));
		return;
	}
	unsigned char msg[300];
	int injected = 0, failed_writes = 0;
	for (long n = 1; n <= max; n++) {
		fill_pattern(msg, sizeof(msg), (unsigned)(100 + n));
		size_t len = 50 + (size_t)n * 20;
		int fd = open(dev, O_WRONLY | O_CLOEXEC);
		if (fd < 0) {
			fail(c, "open(%s, O_WRONLY): %s\n", dev, strerror(errno));
			break;
		}
		char num[32];
		int nl = snprintf(num, sizeof(num), "%ld", n);
		if (pwrite(nth, num, (size_t)nl, 0) != nl) {
			error_(c, "writing %s to fail-nth: %s\n", num, strerror(errno));
			close(fd);
			break;
		}
		ssize_t w = write(fd, msg, len); /* the n-th allocation of this write fails */
		int e = errno;
		char left[32] = "";
		ssize_t lr = pread(nth, left, sizeof(left) - 1, 0);
		if (pwrite(nth, "0", 1, 0) != 1) { /* never leave a pending failure behind */
			error_(c, "clearing fail-nth: %s\n", strerror(errno));
			close(fd);
			break;
		}
		close(fd);
		int hit = lr > 0 && atoi(left) == 0;
		injected += hit;
		if (w < 0) {
			failed_writes++;
			out(c, "n=%ld: write failed with %s%s\n", n, errname(e),
			    e == ENOMEM ? "" : " (ENOMEM is the usual answer)");
		} else if ((size_t)w != len) {
			fail(c, "n=%ld: write of %zu bytes returned %zd%s\n", n, len, w,
			     hit ? " while an allocation failed" : "");
		} else {
			out(c, "n=%ld: write succeeded%s\n", n,
			    hit ? " although its n-th allocation failed (not necessarily the driver's)" : " (no n-th allocation)");
			/* it claims success: the message must be there */
			ssize_t got_n = get(c, dev);
			if (got_n >= 0)
				compare_msg(c, "reading a message whose write succeeded during an "
					       "allocation failure", msg, len, got, (size_t)got_n);
		}
		/* the driver must still work afterwards */
		unsigned char again[64];
		fill_pattern(again, sizeof(again), (unsigned)(200 + n));
		if (put_get(c, dev, again, sizeof(again), "a normal write+read after the failure") < 0) {
			out(c, "(after n=%ld)\n", n);
			break;
		}
	}
	close(nth);
	out(c, "%d write(s) ran with a failed allocation, %d write(s) returned an error\n", injected,
	    failed_writes);
	if (!injected)
		out(c, "note: no allocation failed: the driver's write allocated nothing\n");
}

/* ------------------------------------------------ invalid user buffers */

/*
 * write() from and read() into buffers the driver cannot copy: NULL, an unmapped page, a kernel
 * address, a buffer whose second page is unmapped, a read-only page (for read). Each call may
 * fail with EFAULT (or, for a partly valid buffer, copy a prefix and say so); afterwards the
 * message must be what the last successful write stored, whole and readable. A driver that frees
 * or replaces its buffer before a copy that then fails keeps a dangling pointer: the next read
 * is a use-after-free that KASAN reports.
 */
void t_bad_buffers(struct ctx *c)
{
	const char *dev = dev_or_skip(c);
	if (!dev)
		return;
	const size_t page = 4096;
	unsigned char *ro = mmap(NULL, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *two = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *gone = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ro == MAP_FAILED || two == MAP_FAILED || gone == MAP_FAILED) {
		error_(c, "mmap: %s", strerror(errno));
		return;
	}
	munmap(two + page, page);
	munmap(gone, page);
	fill_pattern(two, page, 21);

	unsigned char msg[200];
	size_t msg_len = sizeof(msg);
	fill_pattern(msg, msg_len, 20);
	if (put_get(c, dev, msg, msg_len, "the message before any bad buffer") < 0)
		return;

	struct {
		const char *what;
		unsigned char *p;
		size_t len;
		size_t valid; /* bytes at p that can be copied */
	} bad[] = {
		{ "NULL", NULL, 64, 0 },
		{ "an unmapped page", gone, 64, 0 },
		{ "a kernel address", (unsigned char *)0xffffffff81000000ull, 64, 0 },
		{ "a buffer whose second page is unmapped", two + page - 512, 1024, 512 },
	};
	for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
		int e;
		ssize_t w = dev_write_msg(dev, bad[b].p, bad[b].len, &e);
		if (w == -2) {
			fail(c, "open(%s): %s\n", dev, strerror(e));
			return;
		}
		if (w < 0) {
			out(c, "write of %zu bytes from %s: %s\n", bad[b].len, bad[b].what, errname(e));
		} else if ((size_t)w <= bad[b].valid) {
			/* a driver may store the part it could copy: that is the message now */
			out(c, "write of %zu bytes from %s stored %zd bytes\n", bad[b].len, bad[b].what, w);
			memcpy(msg, bad[b].p, (size_t)w);
			msg_len = (size_t)w;
		} else {
			fail(c, "write of %zu bytes from %s returned %zd, more than could be copied (%zu)\n",
			     bad[b].len, bad[b].what, w, bad[b].valid);
			return;
		}
		ssize_t n = get(c, dev);
		if (n < 0)
			return;
		char what[160];
		snprintf(what, sizeof(what), "the message after a write from %s", bad[b].what);
		if (compare_msg(c, what, msg, msg_len, got, (size_t)n) < 0)
			return;
	}

	/* reads into bad buffers must fail cleanly and leave the message alone */
	struct {
		const char *what;
		unsigned char *p;
		size_t len;
	} bad_read[] = {
		{ "NULL", NULL, 64 },
		{ "an unmapped page", gone, 64 },
		{ "a read-only page", ro, 64 },
		{ "a kernel address", (unsigned char *)0xffffffff81000000ull, 64 },
		{ "a buffer whose second page is unmapped", two + page - 16, 1024 },
	};
	for (size_t b = 0; b < sizeof(bad_read) / sizeof(bad_read[0]); b++) {
		int fd = open(dev, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fail(c, "open(%s): %s\n", dev, strerror(errno));
			return;
		}
		ssize_t r = read(fd, bad_read[b].p, bad_read[b].len);
		int e = errno;
		close(fd);
		if (r > (ssize_t)bad_read[b].len) {
			fail(c, "read of %zu bytes into %s returned %zd\n", bad_read[b].len, bad_read[b].what, r);
			return;
		}
		out(c, "read of %zu bytes into %s: %s\n", bad_read[b].len, bad_read[b].what,
		    r < 0 ? errname(e) : "returned data");
		ssize_t n = get(c, dev);
		if (n < 0)
			return;
		char what[160];
		snprintf(what, sizeof(what), "the message after a read into %s", bad_read[b].what);
		if (compare_msg(c, what, msg, msg_len, got, (size_t)n) < 0)
			return;
	}
	munmap(ro, page);
	munmap(two, page);
	out(c, "the message survived every bad buffer intact");
}

/* --------------------------------------------------------- offset edges */

/*
 * pread and lseek+read at and past the end of a message: the last byte, exactly the end, one
 * past it, a page past it, 2^31 and 2^63-1, and a negative offset (EINVAL). Past the end a read
 * returns 0; it never returns bytes that are not the message's.
 */
void t_offset_edges(struct ctx *c)
{
	const char *dev = dev_or_skip(c);
	if (!dev)
		return;
	unsigned char msg[100], buf[256];
	fill_pattern(msg, sizeof(msg), 30);
	if (put(c, dev, msg, sizeof(msg)) < 0)
		return;
	int fd = open(dev, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fail(c, "open(%s): %s\n", dev, strerror(errno));
		return;
	}
	const long long at[] = { 99, 100, 101, 4095, 4096, 4097, 1LL << 31, INT64_MAX - 64, INT64_MAX };
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		size_t want = at[i] < (long long)sizeof(msg) ? sizeof(msg) - (size_t)at[i] : 0;
		ssize_t r = pread(fd, buf, 64, (off_t)at[i]);
		if (r < 0) {
			/* EINVAL for positions the driver cannot represent is acceptable */
			out(c, "pread(64) at %lld: %s\n", at[i], errname(errno));
			continue;
		}
		if ((size_t)r > want) {
			fail(c, "pread(64) at %lld returned %zd bytes; the 100-byte message has %zu there\n", at[i], r, want);
			continue;
		}
		if (r > 0 && memcmp(buf, msg + at[i], (size_t)r)) {
			fail(c, "pread at %lld returned bytes that are not the message's\n", at[i]);
			continue;
		}
		off_t pos = lseek(fd, (off_t)at[i], SEEK_SET);
		if (pos == (off_t)at[i]) {
			r = read(fd, buf, 64);
			if (r > (ssize_t)want)
				fail(c, "lseek to %lld then read(64) returned %zd bytes; expected at most %zu\n", at[i], r, want);
		}
	}
	errno = 0;
	ssize_t r = pread(fd, buf, 16, -1);
	if (r >= 0 || errno != EINVAL)
		fail(c, "pread at offset -1 gave %zd (%s); expected EINVAL\n", r, errname(errno));
	off_t pos = lseek(fd, -1, SEEK_SET);
	if (pos >= 0 && pos != 0)
		fail(c, "lseek to -1 succeeded with position %lld\n", (long long)pos);
	close(fd);
	if (!c->res->status_set)
		out(c, "reads at 99, 100, 101, 4095..4097, 2^31 and near 2^63 returned only the message's bytes; "
		       "offset -1 gave EINVAL");
}
