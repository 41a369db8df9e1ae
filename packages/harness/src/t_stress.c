/* msgbuf concurrency tests: race_writers and race_open_close, with self-describing messages. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* ------------------------------------------------ self-describing messages */

#define SHORT_MAX 31 /* messages shorter than this carry their length in the first byte */

static unsigned char pat(unsigned w, unsigned s, unsigned i)
{
	uint32_t x = (w + 1) * 0x9E3779B1u ^ s * 0x85EBCA77u ^ i * 0xC2B2AE3Du;
	x ^= x >> 15;
	x *= 0x2C1B3C6Du;
	x ^= x >> 12;
	return (unsigned char)(33 + x % 90);
}

static unsigned char short_pat(unsigned len, unsigned i)
{
	return (unsigned char)('a' + (len * 7 + i) % 26);
}

/* Message `seq` of writer `w`, len bytes (1..4096). */
static void gen_msg(unsigned w, unsigned seq, unsigned len, unsigned char *buf)
{
	if (len <= SHORT_MAX) {
		buf[0] = (unsigned char)('0' + len);
		for (unsigned i = 1; i < len; i++)
			buf[i] = short_pat(len, i);
		return;
	}
	char hdr[40];
	int h = snprintf(hdr, sizeof(hdr), "W%u-S%u-L%u:", w, seq, len);
	memcpy(buf, hdr, (size_t)h);
	for (unsigned i = (unsigned)h; i < len; i++)
		buf[i] = pat(w, seq, i);
}

enum verdict { V_OK, V_SHORT, V_TORN };

/* Checks that buf[0..n) is one whole message (or, V_SHORT, a consistent prefix of one). */
static enum verdict verify_msg(const unsigned char *buf, size_t n, char *why, size_t whylen,
			       size_t *bad)
{
	*bad = 0;
	if (n == 0) {
		snprintf(why, whylen, "read returned 0 bytes but the device always holds a message");
		return V_TORN;
	}
	if (buf[0] >= '1' && buf[0] <= '0' + SHORT_MAX) {
		unsigned len = buf[0] - '0';
		for (size_t i = 1; i < n && i < len; i++)
			if (buf[i] != short_pat(len, (unsigned)i)) {
				*bad = i;
				snprintf(why, whylen, "%u-byte short message: byte %zu is wrong", len, i);
				return V_TORN;
			}
		if (n > len) {
			*bad = len;
			snprintf(why, whylen, "%u-byte short message but read returned %zu bytes", len, n);
			return V_TORN;
		}
		return n < len ? V_SHORT : V_OK;
	}
	if (buf[0] != 'W') {
		snprintf(why, whylen, "not a message any writer wrote (first byte 0x%02x)", buf[0]);
		return V_TORN;
	}
	unsigned w, s, len;
	int h = 0;
	char hdr[40];
	size_t hn = n < sizeof(hdr) - 1 ? n : sizeof(hdr) - 1;
	memcpy(hdr, buf, hn);
	hdr[hn] = 0;
	if (sscanf(hdr, "W%u-S%u-L%u:%n", &w, &s, &len, &h) != 3 || h == 0) {
		if (n < 24) { /* a prefix of a header: only a short read can produce that */
			for (size_t i = 0; i < n; i++)
				if (!strchr("0123456789WSL-:", buf[i])) {
					*bad = i;
					snprintf(why, whylen, "garbage in the header");
					return V_TORN;
				}
			return V_SHORT;
		}
		snprintf(why, whylen, "header does not parse");
		return V_TORN;
	}
	if (len > MSG_MAX || len <= SHORT_MAX || (unsigned)h > len) {
		snprintf(why, whylen, "header claims impossible length %u", len);
		return V_TORN;
	}
	char want[40];
	if (snprintf(want, sizeof(want), "W%u-S%u-L%u:", w, s, len) != h || memcmp(want, buf, (size_t)h)) {
		snprintf(why, whylen, "header is not in canonical form");
		return V_TORN;
	}
	for (size_t i = (size_t)h; i < n && i < len; i++)
		if (buf[i] != pat(w, s, (unsigned)i)) {
			*bad = i;
			snprintf(why, whylen, "message W%u-S%u-L%u: byte %zu differs from what the writer wrote "
				 "(read returned %zu bytes)", w, s, len, i, n);
			return V_TORN;
		}
	if (n > len) {
		*bad = len;
		snprintf(why, whylen, "message W%u-S%u-L%u but read returned %zu bytes (extra bytes after "
			 "its end)", w, s, len, n);
		return V_TORN;
	}
	return n < len ? V_SHORT : V_OK;
}

/* ---------------------------------------------------------- shared stats */

struct race {
	struct ctx *c;
	const char *dev;
	atomic_ulong writes, write_errors, bad_writes, reads, short_reads, torn, read_errors;
	atomic_ulong opens, open_errors;
	pthread_mutex_t lock;
	char first_problem[512];
	int have_torn;
	unsigned char torn_buf[MSG_MAX * 2];
	size_t torn_len, torn_bad;
	char torn_why[320];
};

static void note_problem(struct race *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note_problem(struct race *r, const char *fmt, ...)
{
	pthread_mutex_lock(&r->lock);
	if (!r->first_problem[0]) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(r->first_problem, sizeof(r->first_problem), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&r->lock);
}

/* One writer message on a fresh fd. */
static void write_one(struct race *r, unsigned w, unsigned seq, uint64_t *rs, unsigned char *buf)
{
	unsigned len;
	if (seq % 16 == 0)
		len = MSG_MAX;
	else if (seq % 16 == 1)
		len = 1 + (unsigned)(stress_rnd(rs) % SHORT_MAX);
	else
		len = SHORT_MAX + 1 + (unsigned)(stress_rnd(rs) % (MSG_MAX - SHORT_MAX));
	gen_msg(w, seq, len, buf);
	int fd = open(r->dev, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		if (stress_running()) {
			atomic_fetch_add(&r->open_errors, 1);
			note_problem(r, "writer %u: open(O_WRONLY) failed: %s", w, errname(errno));
		}
		return;
	}
	atomic_fetch_add(&r->opens, 1);
	ssize_t n = write(fd, buf, len);
	int e = errno;
	close(fd);
	if (n < 0) {
		if (stress_running()) {
			atomic_fetch_add(&r->write_errors, 1);
			note_problem(r, "writer %u: write of %u bytes failed: %s", w, len, errname(e));
		}
	} else if ((size_t)n != len) {
		atomic_fetch_add(&r->bad_writes, 1);
		note_problem(r, "writer %u: write of %u bytes returned %zd", w, len, n);
	} else {
		atomic_fetch_add(&r->writes, 1);
	}
}

/* open, read the whole message (first read verified), close. small: read only 7 bytes. */
static void read_one(struct race *r, int who, int flags, int small)
{
	static __thread unsigned char buf[8192];
	int fd = open(r->dev, flags | O_CLOEXEC);
	if (fd < 0) {
		if (stress_running()) {
			atomic_fetch_add(&r->open_errors, 1);
			note_problem(r, "reader %d: open failed: %s", who, errname(errno));
		}
		return;
	}
	atomic_fetch_add(&r->opens, 1);
	ssize_t n = read(fd, buf, small ? 7 : sizeof(buf));
	if (n < 0) {
		if (stress_running()) {
			atomic_fetch_add(&r->read_errors, 1);
			note_problem(r, "reader %d: read failed: %s", who, errname(errno));
		}
		close(fd);
		return;
	}
	if (!small) {
		char why[256];
		size_t bad;
		enum verdict v = verify_msg(buf, (size_t)n, why, sizeof(why), &bad);
		atomic_fetch_add(&r->reads, 1);
		if (v == V_SHORT)
			atomic_fetch_add(&r->short_reads, 1);
		if (v == V_TORN) {
			atomic_fetch_add(&r->torn, 1);
			pthread_mutex_lock(&r->lock);
			if (!r->have_torn) {
				r->have_torn = 1;
				memcpy(r->torn_buf, buf, (size_t)n);
				r->torn_len = (size_t)n;
				r->torn_bad = bad;
				snprintf(r->torn_why, sizeof(r->torn_why), "reader %d: %s", who, why);
			}
			pthread_mutex_unlock(&r->lock);
		}
		/* finish the message the way cat would; later reads can see newer messages */
		for (int i = 0; i < 64 && n > 0; i++)
			n = read(fd, buf, sizeof(buf));
	}
	close(fd);
}

struct worker {
	struct race *r;
	unsigned id;
	int role; /* 0 writer, 1 reader, 2 open/close storm */
	pthread_t th;
};

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	struct race *r = wk->r;
	uint64_t rs = 0x9E3779B97F4A7C15ull * (wk->id + 1) + 1;
	static __thread unsigned char msg[MSG_MAX];
	unsigned seq = 1;
	while (stress_running()) {
		if (wk->role == 0) {
			write_one(r, wk->id, seq++, &rs, msg);
		} else if (wk->role == 1) {
			read_one(r, (int)wk->id, O_RDONLY, 0);
		} else {
			int fd, fd2;
			switch (stress_rnd(&rs) % 4) {
			case 0:
				read_one(r, (int)wk->id, O_RDONLY, 0);
				break;
			case 1:
				read_one(r, (int)wk->id, O_RDWR, 1);
				break;
			case 2:
				fd = open(r->dev, O_RDWR | O_CLOEXEC);
				if (fd >= 0) {
					atomic_fetch_add(&r->opens, 1);
					close(fd);
				} else if (stress_running()) {
					atomic_fetch_add(&r->open_errors, 1);
					note_problem(r, "storm %u: open(O_RDWR) failed: %s", wk->id, errname(errno));
				}
				break;
			default:
				fd = open(r->dev, O_RDONLY | O_CLOEXEC);
				fd2 = open(r->dev, O_RDONLY | O_CLOEXEC);
				if (fd >= 0)
					atomic_fetch_add(&r->opens, 1);
				if (fd2 >= 0)
					atomic_fetch_add(&r->opens, 1);
				if ((fd < 0 || fd2 < 0) && stress_running()) {
					atomic_fetch_add(&r->open_errors, 1);
					note_problem(r, "storm %u: a second simultaneous open failed", wk->id);
				}
				if (fd2 >= 0)
					close(fd2);
				if (fd >= 0)
					close(fd);
			}
		}
	}
	return NULL;
}

static void run_race(struct ctx *c, int writers, int readers, int storms, int ms)
{
	const char *dev = main_device(c);
	if (!dev) {
		set_status(c, "skip");
		out(c, "skipped: no device");
		return;
	}
	if (writers < 1 || writers > 32 || readers < 0 || readers > 32 || storms < 0 || storms > 32 ||
	    ms < 100 || ms > 600000) {
		error_(c, "bad parameters");
		return;
	}
	static struct race r;
	memset(&r, 0, sizeof(r));
	pthread_mutex_init(&r.lock, NULL);
	r.c = c;
	r.dev = dev;

	/* start from a valid message so that every read must return a whole one */
	unsigned char first[MSG_MAX];
	gen_msg(99, 0, 100, first);
	int e;
	ssize_t n = dev_write_msg(dev, first, 100, &e);
	if (n != 100) {
		fail(c, "the initial 100-byte write returned %zd (%s)", n, n < 0 ? errname(e) : "short");
		return;
	}

	stress_install_kick();
	stress_start();
	int total = writers + readers + storms;
	static struct worker wk[96];
	pthread_t th[96];
	int started = 0;
	for (int i = 0; i < total; i++) {
		wk[i].r = &r;
		wk[i].role = i < writers ? 0 : i < writers + readers ? 1 : 2;
		wk[i].id = (unsigned)(wk[i].role == 0 ? i : i - writers);
		int e = pthread_create(&wk[i].th, NULL, worker_main, &wk[i]);
		if (e != 0) { /* pthread_create returns the error, it does not set errno */
			error_(c, "pthread_create: %s\n", strerror(e));
			break;
		}
		th[started++] = wk[i].th;
	}
	uint64_t t0 = now_mono_ms();
	while (now_mono_ms() - t0 < (uint64_t)ms)
		sleep_ms(50);
	stress_stop_and_join(th, started);
	uint64_t dt = now_mono_ms() - t0;

	out(c, "%d writer(s), %d reader(s), %d open/close storm thread(s), %.1f s: %lu writes, %lu "
	       "verified reads (%lu short), %lu opens; %lu torn, %lu write errors, %lu bad write "
	       "counts, %lu read errors, %lu open errors\n",
	    writers, readers, storms, (double)dt / 1000, atomic_load(&r.writes), atomic_load(&r.reads),
	    atomic_load(&r.short_reads), atomic_load(&r.opens), atomic_load(&r.torn),
	    atomic_load(&r.write_errors), atomic_load(&r.bad_writes), atomic_load(&r.read_errors),
	    atomic_load(&r.open_errors));
	if (r.have_torn) {
		fail(c, "torn read: %s\n", r.torn_why);
		out(c, "first bytes:\n");
		out_hex(c, r.torn_buf, r.torn_len, 0, 32);
		if (r.torn_bad >= 32) {
			size_t from = r.torn_bad >= 16 ? r.torn_bad - 16 : 0;
			out(c, "around offset %zu:\n", r.torn_bad);
			out_hex(c, r.torn_buf, r.torn_len, from & ~(size_t)15, 48);
		}
		if (r.torn_len > 32)
			out(c, "last bytes:\n"), out_hex(c, r.torn_buf, r.torn_len, (r.torn_len - 16) & ~(size_t)15, 32);
	}
	if (atomic_load(&r.bad_writes) || atomic_load(&r.write_errors) || atomic_load(&r.read_errors) ||
	    atomic_load(&r.open_errors))
		fail(c, "first problem: %s\n", r.first_problem);
	if (!atomic_load(&r.writes))
		fail(c, "no write succeeded\n");
	else if (!atomic_load(&r.reads) && readers + storms > 0)
		fail(c, "no read completed\n");
}

/* how long a race runs: `ms`, else `seconds` (3) */
static int race_ms(const struct ctx *c)
{
	return (int)test_param_long(c->test, "ms", test_param_long(c->test, "seconds", 3) * 1000);
}

void t_race_writers(struct ctx *c)
{
	struct kcsan_tuning kt;
	kcsan_tune_begin(c, &kt);
	run_race(c, (int)test_param_long(c->test, "threads", 4), (int)test_param_long(c->test, "readers", 2),
		 0, race_ms(c));
	kcsan_tune_end(c, &kt);
}

void t_race_open_close(struct ctx *c)
{
	struct kcsan_tuning kt;
	kcsan_tune_begin(c, &kt);
	run_race(c, (int)test_param_long(c->test, "writers", 2), 0,
		 (int)test_param_long(c->test, "threads", 4), race_ms(c));
	kcsan_tune_end(c, &kt);
}

