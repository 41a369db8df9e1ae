/*
 * ticker tests: a kernel timer appends 16-byte records { u64 seq; u64 ns; } to a ring of 64
 * that /dev/ticker reads (exercises/ticker/README.md). Every wait is bounded: a read that never
 * returns is reported and kicked with SIGUSR1, never waited for forever. Rates are measured from
 * the records' own timestamps and judged with wide margins (TCG on a loaded host is slow, and
 * a timer can be late but never early).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

struct tk_rec {
	uint64_t seq;
	uint64_t ns;
};

#define TK_SET_PERIOD _IOW('t', 1, uint32_t)
#define TK_GET_DROPS _IOR('t', 2, uint64_t)
#define TK_FLUSH _IO('t', 3)
#define TK_RING 64
#define TK_REC ((size_t)sizeof(struct tk_rec))
#define TK_QUIET_MS 100      /* a period at which 64 records take 6.4 s: no drop while we look away */
#define TK_LOG_CAP 32768
#define TK_MAX_READERS 16

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts); /* the clock ktime_get_ns() reads */
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------ ioctls */

static int tk_set_period(struct ctx *c, int fd, uint32_t ms)
{
	uint32_t v = ms;
	if (ioctl(fd, TK_SET_PERIOD, &v) == 0)
		return 0;
	fail(c, "TICKER_SET_PERIOD(%u) failed: %s (%s)\n", ms, errname(errno), strerror(errno));
	return -1;
}

static int tk_get_drops(struct ctx *c, int fd, uint64_t *d)
{
	uint64_t v = 0;
	if (ioctl(fd, TK_GET_DROPS, &v) == 0) {
		*d = v;
		return 0;
	}
	fail(c, "TICKER_GET_DROPS failed: %s (%s)\n", errname(errno), strerror(errno));
	return -1;
}

static int tk_flush(struct ctx *c, int fd)
{
	if (ioctl(fd, TK_FLUSH) == 0)
		return 0;
	fail(c, "TICKER_FLUSH failed: %s (%s)\n", errname(errno), strerror(errno));
	return -1;
}

static int tk_open(struct ctx *c, int flags)
{
	const char *dev = main_device(c);
	int fd = open(dev, O_RDONLY | O_CLOEXEC | flags);
	if (fd < 0)
		fail(c, "open(%s%s) failed: %s (%s)\n", dev, flags & O_NONBLOCK ? ", O_NONBLOCK" : "",
		     errname(errno), strerror(errno));
	return fd;
}

/* ----------------------------------------------------- record logs */

/* What one reader got, checked record by record. */
struct tk_log {
	struct tk_rec *r;
	size_t n, cap;
	uint64_t prev_seq, prev_ns;
	int bad;             /* records with a problem */
	char problem[400];   /* the first one */
};

static void tk_log_init(struct tk_log *l, struct tk_rec *storage, size_t cap)
{
	memset(l, 0, sizeof(*l));
	l->r = storage;
	l->cap = cap;
}

static void tk_log_problem(struct tk_log *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tk_log_problem(struct tk_log *l, const char *fmt, ...)
{
	if (l->bad++)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(l->problem, sizeof(l->problem), fmt, ap);
	va_end(ap);
}

/* Checks what read(count) returned in buf (r bytes) and logs its records. */
static void tk_log_read(struct tk_log *l, const void *buf, ssize_t r, size_t count, uint64_t now)
{
	if (r == 0) {
		tk_log_problem(l, "read(%zu bytes) returned 0: the device has no end of file, a read waits "
			       "for a record", count);
		return;
	}
	if (r < 0)
		return;
	if ((size_t)r > count || (size_t)r % TK_REC) {
		tk_log_problem(l, "read(%zu bytes) returned %zd: not a whole number of 16-byte records "
			       "within the count", count, r);
		if ((size_t)r > count)
			return;
	}
	const struct tk_rec *rec = buf;
	for (size_t i = 0; i < (size_t)r / TK_REC; i++) {
		char why[300];
		if (tk_record_problem(rec[i].seq, rec[i].ns, l->prev_seq, l->prev_ns, now, why, sizeof(why)))
			tk_log_problem(l, "%s", why);
		/* keep the order the reader saw, even when wrong: the accounting wants every seq */
		if (l->n < l->cap)
			l->r[l->n++] = rec[i];
		if (rec[i].seq > l->prev_seq) {
			l->prev_seq = rec[i].seq;
			l->prev_ns = rec[i].ns;
		}
	}
}

/* Non-blocking reads of buffers of varying size every pause_ms, for ms. */
static void tk_collect(int fd, struct tk_log *l, unsigned ms, unsigned pause_ms, unsigned *errors, int *last_err)
{
	static const size_t sizes[] = { 16, 40, 48, 160, 1024, 1040 };
	static unsigned char buf[TK_RING * 16 + 64];
	uint64_t t0 = now_mono_ms();
	unsigned i = 0;
	do {
		size_t count = sizes[i++ % (sizeof(sizes) / sizeof(sizes[0]))];
		ssize_t r;
		do {
			r = read(fd, buf, count);
			if (r < 0 && errno != EAGAIN && errno != EINTR) {
				(*errors)++;
				*last_err = errno;
			}
			tk_log_read(l, buf, r, count, now_ns());
		} while (r > 0 && now_mono_ms() - t0 < ms + 1000u);
		sleep_ms(pause_ms);
	} while (now_mono_ms() - t0 < ms);
}

/* Reads until EAGAIN (bounded): what is left in the ring. */
static void tk_drain(int fd, struct tk_log *l)
{
	static unsigned char buf[TK_RING * 16 + 64];
	for (int i = 0; i < 200; i++) {
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r <= 0)
			break;
		tk_log_read(l, buf, r, sizeof(buf), now_ns());
	}
}

/* Waits (non-blocking reads every 10 ms) for at least one record; 0 when none came in ms. */
static size_t tk_wait_first(int fd, struct tk_log *l, unsigned ms)
{
	static unsigned char buf[TK_RING * 16 + 64];
	uint64_t t0 = now_mono_ms();
	size_t before = l->n;
	while (l->n == before && now_mono_ms() - t0 < ms) {
		ssize_t r = read(fd, buf, 4 * TK_REC);
		tk_log_read(l, buf, r, 4 * TK_REC, now_ns());
		if (r <= 0)
			sleep_ms(10);
	}
	return l->n - before;
}

/* ---------------------------------------------- a read in its own thread */

struct bread {
	int fd;
	size_t len;
	unsigned char buf[TK_RING * 16 + 64];
	ssize_t r;
	int err;
	uint64_t t_start, t_end;
	atomic_int done;
	int joined;
	pthread_t th;
};

static void *bread_main(void *arg)
{
	struct bread *b = arg;
	b->t_start = now_mono_ms();
	b->r = read(b->fd, b->buf, b->len);
	b->err = errno;
	b->t_end = now_mono_ms();
	atomic_store(&b->done, 1);
	return NULL;
}

static int bread_start(struct ctx *c, struct bread *b, int fd, size_t len)
{
	b->fd = fd;
	b->len = len;
	b->r = 0;
	b->err = 0;
	b->joined = 0;
	atomic_store(&b->done, 0);
	int e = pthread_create(&b->th, NULL, bread_main, b);
	if (e) {
		error_(c, "pthread_create: %s\n", strerror(e));
		return -1;
	}
	return 0;
}

/* 1 when the read has returned (within ms), then joined. */
static int bread_wait(struct bread *b, unsigned ms)
{
	uint64_t t0 = now_mono_ms();
	while (!atomic_load(&b->done) && now_mono_ms() - t0 < ms)
		sleep_ms(5);
	if (atomic_load(&b->done) && !b->joined) {
		pthread_join(b->th, NULL);
		b->joined = 1;
	}
	return atomic_load(&b->done);
}

/* Sends SIGUSR1 every 50 ms until the read returns or ms pass; 1 when it returned. */
static int bread_kick(struct bread *b, unsigned ms)
{
	uint64_t t0 = now_mono_ms();
	while (!atomic_load(&b->done) && now_mono_ms() - t0 < ms) {
		pthread_kill(b->th, SIGUSR1);
		bread_wait(b, 50);
	}
	return bread_wait(b, 0);
}

static const char *bread_result(const struct bread *b, char *buf, size_t len)
{
	if (b->r < 0)
		snprintf(buf, len, "-1 (%s)", errname(b->err));
	else
		snprintf(buf, len, "%zd bytes", b->r);
	return buf;
}

/* ------------------------------------------------------- ticker_records */

void t_ticker_records(struct ctx *c)
{
	int fd = tk_open(c, O_NONBLOCK);
	if (fd < 0)
		return;
	static unsigned char buf[100 * 16];
	static struct tk_rec store[TK_LOG_CAP];
	static struct tk_log l;
	tk_log_init(&l, store, TK_LOG_CAP);

	/* some records first (default period 10 ms) */
	if (!tk_wait_first(fd, &l, 3000)) {
		fail(c, "no record could be read within 3 s of opening %s (non-blocking reads every 10 ms; "
			"the default period is 10 ms)\n", main_device(c));
		close(fd);
		return;
	}
	sleep_ms(100);
	static const size_t small[] = { 1, 8, 15 };
	for (size_t i = 0; i < sizeof(small) / sizeof(small[0]); i++) {
		errno = 0;
		ssize_t r = read(fd, buf, small[i]);
		if (r != -1 || errno != EINVAL)
			fail(c, "read of %zu byte(s) returned %zd (%s), expected EINVAL: a read returns whole "
				"16-byte records only\n", small[i], r, r < 0 ? errname(errno) : "data");
		if (r > 0)
			tk_log_read(&l, buf, r, small[i], now_ns());
	}
	/* 40 bytes: one or two whole records, never a piece of one */
	sleep_ms(60);
	ssize_t r = -1;
	for (int i = 0; i < 20; i++) {
		r = read(fd, buf, 40);
		if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			break;
		sleep_ms(100); /* the ring is empty: wait for a record */
	}
	if (r > 0)
		tk_log_read(&l, buf, r, 40, now_ns());
	if (r != 16 && r != 32)
		fail(c, "read of 40 bytes with records waiting returned %zd (%s), expected 16 or 32 (whole "
			"records)\n", r, r < 0 ? errname(errno) : "bytes");

	/* reads of varying sizes for a second */
	unsigned errors = 0;
	int last_err = 0;
	tk_collect(fd, &l, 1000, 20, &errors, &last_err);
	if (errors)
		fail(c, "%u non-blocking read(s) failed with errors other than EAGAIN (last: %s)\n", errors,
		     errname(last_err));

	/* nobody reads for a second: the ring fills up; a read returns at most its 64 records */
	sleep_ms(1000);
	r = read(fd, buf, sizeof(buf));
	if (r > (ssize_t)(TK_RING * TK_REC))
		fail(c, "a read of %zu bytes after a second without reading returned %zd bytes (%zd "
			"records): the ring holds 64\n", sizeof(buf), r, r / (ssize_t)TK_REC);
	tk_log_read(&l, buf, r, sizeof(buf), now_ns());
	if (r < 0 && errno != EAGAIN)
		fail(c, "a read after a second without reading failed: %s\n", errname(errno));
	out(c, "a read of 100 records' room after 1 s without reading returned %zd record(s)\n",
	    r > 0 ? r / (ssize_t)TK_REC : 0);

	if (l.bad)
		fail(c, "%d bad record(s); the first: %s\n", l.bad, l.problem);
	if (l.n >= 2) {
		const struct tk_rec *a = &l.r[0], *b = &l.r[l.n - 1];
		double gap = b->seq > a->seq ? (double)(b->ns - a->ns) / 1e6 / (double)(b->seq - a->seq) : 0;
		out(c, "%zu records read, seq %" PRIu64 "..%" PRIu64 ", one every %.2f ms on average\n", l.n,
		    a->seq, b->seq, gap);
		if (b->seq > a->seq && gap < 5.0)
			fail(c, "records came every %.2f ms on average, faster than the default period of "
				"10 ms allows\n", gap);
	} else {
		fail(c, "only %zu record(s) read in about 2 s at the default period of 10 ms\n", l.n);
	}
	close(fd);
}

/* ------------------------------------------------------- ticker_blocking */

void t_ticker_blocking(struct ctx *c)
{
	int fd = tk_open(c, 0);
	if (fd < 0)
		return;
	int fdnb = tk_open(c, O_NONBLOCK);
	if (fdnb < 0) {
		close(fd);
		return;
	}
	stress_install_kick();
	static struct bread b;
	static unsigned char buf[TK_RING * 16];
	char res[64];

	if (tk_set_period(c, fd, 200))
		goto out;
	sleep_ms(250);

	/* 1. a blocking read on an empty ring waits for the next record */
	uint64_t t_flush = now_ns();
	if (tk_flush(c, fd) || bread_start(c, &b, fd, TK_RING * TK_REC))
		goto out;
	if (!bread_wait(&b, 5000)) {
		sleep_ms(50);
		ssize_t r = read(fdnb, buf, sizeof(buf));
		fail(c, "blocked read never returned within 5 s although the timer makes a record every "
			"200 ms%s\n",
		     r > 0 ? " (a non-blocking read on another descriptor then found records waiting): the "
			     "reader is never woken up"
			   : "");
		if (bread_kick(&b, 3000)) {
			out(c, "SIGUSR1 then ended it: read returned %s\n", bread_result(&b, res, sizeof(res)));
		} else {
			out(c, "it did not return after SIGUSR1 for 3 s either; the other checks are skipped\n");
			goto out;
		}
	} else if (b.r <= 0 || b.r % (ssize_t)TK_REC) {
		fail(c, "a blocking read on an empty ring returned %s after %llu ms, expected a record\n",
		     bread_result(&b, res, sizeof(res)), (unsigned long long)(b.t_end - b.t_start));
	} else {
		const struct tk_rec *rec = (const struct tk_rec *)b.buf;
		out(c, "a blocking read after TICKER_FLUSH returned %zd record(s) after %llu ms\n",
		    b.r / (ssize_t)TK_REC, (unsigned long long)(b.t_end - b.t_start));
		if (rec->ns < t_flush)
			fail(c, "the record a blocking read returned right after TICKER_FLUSH (seq %" PRIu64
				") was made %.1f ms before the flush: FLUSH did not empty the ring\n",
			     rec->seq, (double)(t_flush - rec->ns) / 1e6);
	}

	/* 2. non-blocking read on an empty ring: EAGAIN at once */
	int got = 0, bad = 0;
	for (int i = 0; i < 5 && !got && !bad; i++) {
		if (tk_flush(c, fd))
			goto out;
		uint64_t t0 = now_mono_ms();
		errno = 0;
		ssize_t r = read(fdnb, buf, 4 * TK_REC);
		uint64_t dt = now_mono_ms() - t0;
		if (dt > 2000) {
			fail(c, "a non-blocking read on an empty ring took %llu ms (it blocked) and returned %zd "
				"(%s)\n", (unsigned long long)dt, r, r < 0 ? errname(errno) : "bytes");
			bad = 1;
		} else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			got = 1;
		} else if (r == 0) {
			fail(c, "a non-blocking read on an empty ring returned 0 (end of file), expected EAGAIN\n");
			bad = 1;
		} else if (r < 0) {
			fail(c, "a non-blocking read on an empty ring failed with %s, expected EAGAIN\n",
			     errname(errno));
			bad = 1;
		}
		/* r > 0: a record came between the flush and the read; try again */
	}
	if (got)
		out(c, "a non-blocking read right after TICKER_FLUSH returned EAGAIN\n");
	else if (!bad)
		fail(c, "a non-blocking read right after TICKER_FLUSH returned records 5 times in a row at a "
			"period of 200 ms: expected EAGAIN on an empty ring\n");

	/* 3. poll: nothing right after a flush, POLLIN once a record is made */
	got = 0;
	for (int i = 0; i < 5 && !got; i++) {
		if (tk_flush(c, fd))
			goto out;
		struct pollfd p = { .fd = fdnb, .events = POLLIN };
		int n = poll(&p, 1, 0);
		if (n == 0)
			got = 1;
		else if (n < 0) {
			fail(c, "poll failed: %s\n", errname(errno));
			break;
		}
	}
	if (!got)
		fail(c, "poll reported POLLIN right after TICKER_FLUSH 5 times in a row (period 200 ms) "
			"although no record waits\n");
	else {
		struct pollfd p = { .fd = fdnb, .events = POLLIN };
		uint64_t t0 = now_mono_ms();
		int n = poll(&p, 1, 5000);
		uint64_t dt = now_mono_ms() - t0;
		if (n == 0) {
			ssize_t r = read(fdnb, buf, sizeof(buf));
			fail(c, "poll did not report POLLIN within 5 s although the timer makes a record every "
				"200 ms%s\n",
			     r > 0 ? " (a non-blocking read then found records): poll is never woken up" : "");
		} else if (n > 0 && dt >= 4000) {
			/* poll looks at the device once more when its timeout runs out */
			fail(c, "poll reported POLLIN only when its 5 s timeout ran out (after %llu ms) although "
				"the timer makes a record every 200 ms: poll is never woken up\n",
			     (unsigned long long)dt);
		} else if (n < 0) {
			fail(c, "poll with a 5 s timeout failed: %s\n", errname(errno));
		} else if (!(p.revents & POLLIN) || (p.revents & (POLLERR | POLLNVAL))) {
			fail(c, "poll returned revents 0x%x, expected POLLIN\n", (unsigned)p.revents);
		} else {
			ssize_t r = read(fdnb, buf, sizeof(buf));
			if (r <= 0)
				fail(c, "poll reported POLLIN after %llu ms but a non-blocking read then returned "
					"%zd (%s)\n", (unsigned long long)dt, r, r < 0 ? errname(errno) : "bytes");
			else
				out(c, "poll reported POLLIN after %llu ms, then a read returned %zd record(s)\n",
				    (unsigned long long)dt, r / (ssize_t)TK_REC);
		}
	}

	/* 4. a signal interrupts a blocked read (EINTR without SA_RESTART) */
	if (tk_set_period(c, fd, 1000))
		goto out;
	sleep_ms(50);
	int tried = 0;
	for (int i = 0; i < 3; i++) {
		if (tk_flush(c, fd) || bread_start(c, &b, fd, TK_RING * TK_REC))
			goto out;
		sleep_ms(300);
		if (bread_wait(&b, 0))
			continue; /* a record came first: try again */
		tried = 1;
		uint64_t t_sig = now_mono_ms();
		pthread_kill(b.th, SIGUSR1);
		if (bread_wait(&b, 2000)) {
			if (b.r > 0 && b.t_end > t_sig + 500) {
				fail(c, "a blocked read sent a signal went on waiting: it returned a record %llu ms "
					"later (it sleeps uninterruptibly; wait_event_interruptible returns "
					"-ERESTARTSYS)\n", (unsigned long long)(b.t_end - t_sig));
				break;
			}
			if (b.r > 0)
				continue; /* the record won the race */
			if (b.r < 0 && b.err == EINTR)
				out(c, "a blocked read interrupted by a signal returned EINTR\n");
			else
				fail(c, "a blocked read interrupted by a signal returned %s, expected EINTR "
					"(-ERESTARTSYS from the driver)\n", bread_result(&b, res, sizeof(res)));
		} else {
			fail(c, "a signal did not interrupt a blocked read within 2 s: it waits "
				"uninterruptibly (wait_event_interruptible returns -ERESTARTSYS)\n");
			if (!bread_wait(&b, 3000) && !bread_kick(&b, 2000))
				out(c, "and it had not returned 5 s later\n");
		}
		break;
	}
	if (!tried)
		out(c, "(a record arrived before the signal three times: signal case not checked)\n");
	tk_set_period(c, fd, 10);
out:
	close(fdnb);
	close(fd);
}

/* --------------------------------------------------------- ticker_period */

/*
 * Mean time between records (ms) after setting the period: records made after the ioctl, less
 * the first (it may have been scheduled at the old period); at least 4 of them, within max_ms.
 */
static double tk_measure(struct ctx *c, int fd, uint32_t period, unsigned ms, unsigned max_ms, size_t *used)
{
	static struct tk_rec store[4096];
	static struct tk_log l;
	tk_log_init(&l, store, 4096);
	*used = 0;
	unsigned errors = 0;
	int last_err = 0;
	uint64_t t_set = now_ns();
	if (tk_set_period(c, fd, period))
		return -1;
	uint64_t t0 = now_mono_ms();
	size_t first = 0;
	for (;;) {
		tk_collect(fd, &l, 200, 20, &errors, &last_err);
		/* skip what was made before the ioctl and the first record after it */
		first = 0;
		while (first < l.n && l.r[first].ns < t_set)
			first++;
		first++;
		uint64_t el = now_mono_ms() - t0;
		if (el >= max_ms || (el >= ms && first + 4 <= l.n))
			break;
	}
	if (l.bad)
		fail(c, "bad record while measuring the rate: %s\n", l.problem);
	if (first + 2 > l.n)
		return 0;
	const struct tk_rec *a = &l.r[first], *b = &l.r[l.n - 1];
	if (b->seq <= a->seq)
		return 0;
	*used = l.n - first;
	return (double)(b->ns - a->ns) / 1e6 / (double)(b->seq - a->seq);
}

void t_ticker_period(struct ctx *c)
{
	int fd = tk_open(c, O_NONBLOCK);
	if (fd < 0)
		return;
	static const uint32_t bad[] = { 0, 1001, 0xffffffffu };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint32_t v = bad[i];
		errno = 0;
		int r = ioctl(fd, TK_SET_PERIOD, &v);
		if (r != -1 || errno != EINVAL)
			fail(c, "TICKER_SET_PERIOD(%u) returned %d (%s), expected EINVAL (1..1000 ms)\n", v, r,
			     r < 0 ? errname(errno) : "success");
	}
	/* bad pointers: a NULL and a kernel address are refused (EFAULT), never dereferenced */
	void *const ptrs[] = { NULL, (void *)0xffffffff81000000ull };
	for (size_t i = 0; i < 2; i++) {
		errno = 0;
		int r = ioctl(fd, TK_SET_PERIOD, ptrs[i]);
		if (r != -1 || errno != EFAULT)
			fail(c, "TICKER_SET_PERIOD from %p returned %d (%s), expected EFAULT\n", ptrs[i], r,
			     r < 0 ? errname(errno) : "success");
		errno = 0;
		r = ioctl(fd, TK_GET_DROPS, ptrs[i]);
		if (r != -1 || errno != EFAULT)
			fail(c, "TICKER_GET_DROPS into %p returned %d (%s), expected EFAULT\n", ptrs[i], r,
			     r < 0 ? errname(errno) : "success");
	}
	if (tk_set_period(c, fd, 1) || tk_set_period(c, fd, 1000))
		goto out;
	out(c, "periods 0, 1001 and 2^32-1 refused; 1 and 1000 accepted\n");

	size_t n_slow = 0, n_fast = 0;
	double slow = tk_measure(c, fd, 100, 1500, 5000, &n_slow);
	double fast = tk_measure(c, fd, 10, 800, 4000, &n_fast);
	out(c, "period 100 ms: a record every %.2f ms (%zu records); period 10 ms: every %.2f ms (%zu "
	       "records)\n", slow, n_slow, fast, n_fast);
	if (slow < 0 || fast < 0)
		goto out;
	if (!n_slow || !n_fast) {
		fail(c, "too few records to measure the rate at %s ms\n", !n_slow ? "100" : "10");
		goto out;
	}
	if (slow < 60.0)
		fail(c, "after TICKER_SET_PERIOD(100) a record came every %.2f ms: the new period did not "
			"take effect\n", slow);
	else if (fast * 2 > slow)
		fail(c, "after TICKER_SET_PERIOD(10) a record came every %.2f ms, not clearly faster than at "
			"100 ms (%.2f ms): the new period did not take effect\n", fast, slow);
	if (fast < 5.0)
		fail(c, "at a period of 10 ms a record came every %.2f ms: faster than asked\n", fast);
out:
	tk_set_period(c, fd, 10);
	close(fd);
}

/* ------------------------------------------------------- ticker_sequence */

void t_ticker_sequence(struct ctx *c)
{
	uint32_t period = (uint32_t)test_param_long(c->test, "period", 10);
	int fd = tk_open(c, O_NONBLOCK);
	if (fd < 0)
		return;
	static struct tk_rec store[TK_LOG_CAP];
	static struct tk_log l;
	static struct tk_seen seen[TK_LOG_CAP];
	static unsigned char buf[80 * 16];
	tk_log_init(&l, store, TK_LOG_CAP);
	unsigned errors = 0;
	int last_err = 0;
	uint64_t d0, d1, dS, dA, dA2;

	/* a quiet start: empty ring, no drop possible for seconds */
	if (tk_set_period(c, fd, TK_QUIET_MS) || tk_flush(c, fd) || tk_get_drops(c, fd, &d0))
		goto out;
	if (!tk_wait_first(fd, &l, 3000)) {
		fail(c, "no record within 3 s at a period of %d ms\n", TK_QUIET_MS);
		goto out;
	}
	/* 1. reading along */
	if (tk_set_period(c, fd, period))
		goto out;
	tk_collect(fd, &l, 1000, 10, &errors, &last_err);
	size_t before_gap = l.n;
	uint64_t last_before = l.prev_seq;

	/* 2. nobody reads: the ring overflows; the oldest records must go, and be counted */
	if (tk_get_drops(c, fd, &dS))
		goto out;
	uint64_t w0 = now_mono_ms();
	dA = dS;
	while (dA == dS && now_mono_ms() - w0 < 5000) {
		sleep_ms(100);
		if (tk_get_drops(c, fd, &dA))
			goto out;
	}
	sleep_ms(200);
	if (tk_get_drops(c, fd, &dA))
		goto out;
	ssize_t r = read(fd, buf, sizeof(buf));
	uint64_t tr = now_ns();
	if (tk_get_drops(c, fd, &dA2))
		goto out;
	tk_log_read(&l, buf, r, sizeof(buf), tr);
	uint64_t paused = now_mono_ms() - w0;
	if (r <= 0) {
		fail(c, "after %llu ms without reading, a read returned %zd (%s)\n", (unsigned long long)paused, r,
		     r < 0 ? errname(errno) : "bytes");
	} else if (r >= (ssize_t)TK_REC && l.n > before_gap) {
		const struct tk_rec *got = &l.r[before_gap];
		size_t k = (size_t)r / TK_REC;
		uint64_t gap = got->seq > last_before ? got->seq - last_before - 1 : 0;
		uint64_t made = got[k - 1].seq > last_before ? got[k - 1].seq - last_before : 0;
		out(c, "not reading for %llu ms: %" PRIu64 " records made, the drop counter grew by %" PRIu64
		       "..%" PRIu64 ", the next read returned %zu record(s) from seq %" PRIu64 " (%" PRIu64
		       " skipped)\n", (unsigned long long)paused, made, dA - dS, dA2 - dS, k, got->seq, gap);
		if (k > TK_RING)
			fail(c, "a read returned %zu records: the ring holds 64\n", k);
		if (dA == dS && made > TK_RING + 1)
			fail(c, "%" PRIu64 " records were made while nobody read, more than the 64 the ring "
				"holds, but the drop counter did not grow\n", made);
		else if (dA > dS && (gap < dA - dS || gap > dA2 - dS))
			fail(c, "after the ring overflowed (%" PRIu64 " drops counted) the next read started at "
				"seq %" PRIu64 ", %" PRIu64 " after the last one read before (seq %" PRIu64
				"): the oldest records must be the ones dropped\n",
			     dA - dS, got->seq, gap, last_before);
	}

	/* 3. reading along again, then a quiet end: everything left is read */
	tk_collect(fd, &l, 500, 10, &errors, &last_err);
	if (tk_set_period(c, fd, TK_QUIET_MS))
		goto out;
	tk_drain(fd, &l);
	if (tk_get_drops(c, fd, &d1))
		goto out;
	if (errors)
		fail(c, "%u non-blocking read(s) failed with errors other than EAGAIN (last: %s)\n", errors,
		     errname(last_err));
	if (l.bad)
		fail(c, "%d bad record(s); the first: %s\n", l.bad, l.problem);
	for (size_t i = 0; i < l.n; i++) {
		seen[i].seq = l.r[i].seq;
		seen[i].who = 0;
	}
	struct tk_account a;
	tk_account(seen, l.n, &a);
	char why[600];
	out(c, "one reader: %zu records, seq %" PRIu64 "..%" PRIu64 ", %" PRIu64 " missing, drop counter "
	       "%" PRIu64 " -> %" PRIu64 "\n", a.n, a.first, a.last, a.missing, d0, d1);
	if (tk_account_explain(&a, d1 - d0, why, sizeof(why)))
		fail(c, "%s\n", why);

	/* 4. FLUSH drops what is buffered without counting it */
	uint64_t d2, d3;
	sleep_ms(350);
	if (tk_get_drops(c, fd, &d2))
		goto out;
	uint64_t t_flush = now_ns();
	if (tk_flush(c, fd) || tk_get_drops(c, fd, &d3))
		goto out;
	if (d3 != d2)
		fail(c, "TICKER_FLUSH changed the drop counter from %" PRIu64 " to %" PRIu64 ": flushed "
			"records are not drops\n", d2, d3);
	static struct tk_log l2;
	static struct tk_rec store2[64];
	tk_log_init(&l2, store2, 64);
	if (!tk_wait_first(fd, &l2, 3000))
		fail(c, "no record within 3 s after TICKER_FLUSH\n");
	else if (l2.r[0].ns < t_flush)
		fail(c, "the first record read after TICKER_FLUSH (seq %" PRIu64 ") was made %.1f ms before "
			"the flush: FLUSH did not empty the ring\n", l2.r[0].seq,
		     (double)(t_flush - l2.r[0].ns) / 1e6);
	else if (l2.r[0].seq <= a.last)
		fail(c, "after TICKER_FLUSH the seq went back from %" PRIu64 " to %" PRIu64 "\n", a.last,
		     l2.r[0].seq);
	else
		out(c, "TICKER_FLUSH: the drop counter stayed at %" PRIu64 ", the next record (seq %" PRIu64
		       ") was made after it\n", d3, l2.r[0].seq);
out:
	tk_set_period(c, fd, 10);
	close(fd);
}

/* -------------------------------------------- ticker_readers, race_ioctl */

struct tk_reader {
	int id;
	int fd;
	int spin; /* non-blocking, reading in a tight loop: always inside read() when a record lands */
	int slow; /* reads into a page it has just dropped: its copy_to_user faults and, while the
		     locker thread holds mmap_lock, sleeps inside read() */
	unsigned char *page;
	pthread_t th;
	int started;
	atomic_int done;
	struct tk_log log;
	struct tk_rec store[TK_LOG_CAP / 4];
	unsigned long reads, eintr, errors;
	int last_err;
};

static atomic_int readers_run, helpers_run;

static void *tk_reader_main(void *arg)
{
	struct tk_reader *rd = arg;
	static const size_t sizes[] = { 16, 40, 64, 160, 512, 1024 };
	unsigned char stack_buf[1024];
	unsigned char *buf = rd->slow ? rd->page : stack_buf;
	unsigned i = (unsigned)rd->id;
	while (atomic_load(&readers_run)) {
		size_t count = sizes[i++ % (sizeof(sizes) / sizeof(sizes[0]))];
		if (rd->slow)
			madvise(buf, 4096, MADV_DONTNEED);
		ssize_t r = read(rd->fd, buf, count);
		if (r < 0) {
			if (errno == EINTR)
				rd->eintr++;
			else if (errno != EAGAIN && errno != EWOULDBLOCK) {
				rd->errors++;
				rd->last_err = errno;
				sleep_ms(1);
			}
			continue;
		}
		rd->reads++;
		tk_log_read(&rd->log, buf, r, count, now_ns());
		if (r == 0)
			sleep_ms(1);
	}
	atomic_store(&rd->done, 1);
	return NULL;
}

/* Stops the readers, kicking blocked ones with SIGUSR1 for up to 5 s; 0 when all returned. */
static int tk_stop_readers(struct ctx *c, struct tk_reader *rd, int n)
{
	atomic_store(&readers_run, 0);
	uint64_t t0 = now_mono_ms();
	int left;
	do {
		left = 0;
		for (int i = 0; i < n; i++)
			if (rd[i].started && !atomic_load(&rd[i].done)) {
				pthread_kill(rd[i].th, SIGUSR1);
				left++;
			}
		if (left)
			sleep_ms(20);
	} while (left && now_mono_ms() - t0 < 5000);
	for (int i = 0; i < n; i++)
		if (rd[i].started && atomic_load(&rd[i].done))
			pthread_join(rd[i].th, NULL);
	if (left)
		fail(c, "%d reader(s) blocked in read() did not return within 5 s of being sent SIGUSR1 "
			"(the read does not wake up for signals)\n", left);
	return left ? -1 : 0;
}

struct tk_ioctler {
	int fd;
	uint32_t period;
	int flush; /* also FLUSH and bad periods (race_ioctl) */
	pthread_t th;
	unsigned long calls, errors;
	int last_err;
	char problem[200];
};

static void *tk_ioctl_main(void *arg)
{
	struct tk_ioctler *io = arg;
	uint64_t rs = 0x2545F4914F6CDD1Dull, prev = 0;
	while (atomic_load(&helpers_run)) {
		uint64_t d = 0;
		uint32_t v;
		struct pollfd p = { .fd = io->fd, .events = POLLIN };
		switch (stress_rnd(&rs) % (io->flush ? 5 : 3)) {
		case 0:
			if (ioctl(io->fd, TK_GET_DROPS, &d) < 0) {
				io->errors++;
				io->last_err = errno;
			} else {
				if (d < prev && !io->problem[0])
					snprintf(io->problem, sizeof(io->problem),
						 "the drop counter went down from %" PRIu64 " to %" PRIu64, prev, d);
				prev = d;
			}
			break;
		case 1:
			v = io->flush ? 1 + (uint32_t)(stress_rnd(&rs) % 20) : io->period + (uint32_t)(stress_rnd(&rs) % 2);
			if (ioctl(io->fd, TK_SET_PERIOD, &v) < 0) {
				io->errors++;
				io->last_err = errno;
			}
			break;
		case 2:
			if (poll(&p, 1, 0) < 0) {
				io->errors++;
				io->last_err = errno;
			}
			break;
		case 3:
			if (ioctl(io->fd, TK_FLUSH) < 0) {
				io->errors++;
				io->last_err = errno;
			}
			break;
		default:
			v = 0;
			if (ioctl(io->fd, TK_SET_PERIOD, &v) == 0 && !io->problem[0])
				snprintf(io->problem, sizeof(io->problem), "TICKER_SET_PERIOD(0) succeeded");
			break;
		}
		io->calls++;
		sleep_ms(2);
	}
	return NULL;
}

/*
 * Holds the process's mmap_lock for writing again and again (mprotect over a populated region),
 * so that a page fault in copy_to_user waits: a read() that sleeps between taking a record and
 * moving the ring on, the window in which an unlocked ring hands the same record to another reader.
 */
struct tk_locker {
	unsigned char *region;
	size_t len;
	pthread_t th;
	unsigned long rounds;
};

static void *tk_locker_main(void *arg)
{
	struct tk_locker *lk = arg;
	while (atomic_load(&helpers_run)) {
		mprotect(lk->region, lk->len, PROT_READ);
		mprotect(lk->region, lk->len, PROT_READ | PROT_WRITE);
		lk->rounds++;
	}
	return NULL;
}

struct tk_storm {
	const char *dev;
	pthread_t th;
	unsigned long opens, fails;
};

static void *tk_storm_main(void *arg)
{
	struct tk_storm *s = arg;
	unsigned char buf[64];
	while (atomic_load(&helpers_run)) {
		int fd = open(s->dev, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0) {
			s->fails++;
			sleep_ms(1);
			continue;
		}
		s->opens++;
		if (read(fd, buf, sizeof(buf)) < 0) {
		}
		close(fd);
	}
	return NULL;
}

static struct tk_reader tk_readers[TK_MAX_READERS];
static struct tk_seen tk_all[TK_LOG_CAP * 4 + TK_LOG_CAP];

/*
 * Starts n readers: the first two share one descriptor, the others open their own; the last
 * `spinners` of them read non-blocking in a tight loop (two CPUs: a reader is inside read() on
 * each when a record lands, which is what makes an unlocked ring hand one record to two).
 */
static int tk_start_readers(struct ctx *c, int n, int spinners, int slow, int *shared_fd)
{
	*shared_fd = -1;
	atomic_store(&readers_run, 1);
	for (int i = 0; i < n; i++) {
		struct tk_reader *rd = &tk_readers[i];
		memset(rd, 0, sizeof(*rd));
		rd->id = i;
		rd->spin = i >= n - spinners;
		rd->slow = !rd->spin && i >= n - spinners - slow;
		if (rd->slow) {
			rd->page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (rd->page == MAP_FAILED) {
				error_(c, "mmap: %s\n", strerror(errno));
				return -1;
			}
		}
		tk_log_init(&rd->log, rd->store, TK_LOG_CAP / 4);
		if (i < 2 && *shared_fd >= 0 && !rd->spin && !rd->slow) {
			rd->fd = *shared_fd;
		} else {
			rd->fd = tk_open(c, rd->spin ? O_NONBLOCK : 0);
			if (rd->fd < 0)
				return -1;
			if (i == 0 && n > 1 && !rd->spin && !rd->slow)
				*shared_fd = rd->fd;
		}
		int e = pthread_create(&rd->th, NULL, tk_reader_main, rd);
		if (e) {
			error_(c, "pthread_create: %s\n", strerror(e));
			return -1;
		}
		rd->started = 1;
	}
	return 0;
}

static void tk_close_readers(int n)
{
	for (int i = 0; i < n; i++) {
		if (tk_readers[i].fd > 0 && !(i == 1 && tk_readers[1].fd == tk_readers[0].fd))
			close(tk_readers[i].fd);
		if (tk_readers[i].slow && tk_readers[i].page && tk_readers[i].page != MAP_FAILED)
			munmap(tk_readers[i].page, 4096);
	}
}

/* The locker's region (populated) and thread; 0 when it runs. */
static int tk_start_locker(struct tk_locker *lk)
{
	memset(lk, 0, sizeof(*lk));
	lk->len = 8u << 20;
	lk->region = mmap(NULL, lk->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (lk->region == MAP_FAILED)
		return -1;
	memset(lk->region, 1, lk->len);
	if (pthread_create(&lk->th, NULL, tk_locker_main, lk)) {
		munmap(lk->region, lk->len);
		lk->region = MAP_FAILED;
		return -1;
	}
	return 0;
}

static void tk_stop_locker(struct tk_locker *lk, int started)
{
	if (!started)
		return;
	pthread_join(lk->th, NULL);
	munmap(lk->region, lk->len);
}

/* Per-reader problems and the counts; returns how many records the readers got. */
static size_t tk_report_readers(struct ctx *c, int n)
{
	size_t total = 0;
	char line[600];
	int p = 0;
	for (int i = 0; i < n; i++) {
		struct tk_reader *rd = &tk_readers[i];
		total += rd->log.n;
		p += snprintf(line + p, sizeof(line) - (size_t)p, "%s%d: %zu", i ? ", " : "", i, rd->log.n);
		if (p >= (int)sizeof(line) - 40)
			break;
		if (rd->log.bad)
			fail(c, "reader %d%s: %d bad record(s); the first: %s\n", i, i < 2 && n > 1 ? " (shared fd)" : "",
			     rd->log.bad, rd->log.problem);
		if (rd->errors)
			fail(c, "reader %d: %lu read(s) failed with %s\n", i, rd->errors, errname(rd->last_err));
	}
	out(c, "records per reader (0 and 1 share a descriptor; %s): %s\n",
	    "then readers into a page dropped before each read, then readers spinning on non-blocking reads", line);
	return total;
}

void t_ticker_readers(struct ctx *c)
{
	int n = (int)test_param_long(c->test, "readers", 4);
	int spinners = (int)test_param_long(c->test, "spinners", 1);
	int slow = (int)test_param_long(c->test, "slow", 1);
	uint32_t period = (uint32_t)test_param_long(c->test, "period", 1);
	long ms = test_param_long(c->test, "seconds", 2) * 1000;
	if (n < 1 || spinners < 0 || slow < 0 || n + spinners + slow > TK_MAX_READERS || period < 1 ||
	    period > 1000 || ms < 100 || ms > 60000) {
		error_(c, "bad parameters");
		return;
	}
	int fd = tk_open(c, O_NONBLOCK);
	if (fd < 0)
		return;
	stress_install_kick();
	static struct tk_rec store[TK_LOG_CAP];
	static struct tk_log mine;
	tk_log_init(&mine, store, TK_LOG_CAP);
	uint64_t d0, d1;
	int shared = -1, stopped = 0;
	static struct tk_ioctler io;
	memset(&io, 0, sizeof(io));

	if (tk_set_period(c, fd, TK_QUIET_MS) || tk_flush(c, fd) || tk_get_drops(c, fd, &d0))
		goto out;
	if (!tk_wait_first(fd, &mine, 3000)) {
		fail(c, "no record within 3 s at a period of %d ms\n", TK_QUIET_MS);
		goto out;
	}
	n += spinners + slow;
	if (tk_start_readers(c, n, spinners, slow, &shared) < 0) {
		tk_stop_readers(c, tk_readers, n);
		goto close_readers;
	}
	io.fd = fd;
	io.period = period;
	atomic_store(&helpers_run, 1);
	int have_io = pthread_create(&io.th, NULL, tk_ioctl_main, &io) == 0;
	static struct tk_locker lk;
	int have_lk = slow > 0 && tk_start_locker(&lk) == 0;
	tk_set_period(c, fd, period);
	uint64_t t0 = now_mono_ms();
	while (now_mono_ms() - t0 < (uint64_t)ms)
		sleep_ms(50);
	atomic_store(&helpers_run, 0);
	if (have_io)
		pthread_join(io.th, NULL);
	tk_stop_locker(&lk, have_lk);
	tk_set_period(c, fd, TK_QUIET_MS);
	stopped = tk_stop_readers(c, tk_readers, n) == 0;
	tk_drain(fd, &mine);
	if (tk_get_drops(c, fd, &d1))
		goto close_readers;

	size_t total = tk_report_readers(c, n);
	out(c, "%d blocking readers, %d whose reads fault (mmap_lock held by mprotect %lu times) and %d "
	       "non-blocking ones for %.1f s at a period of %u ms, TICKER_GET_DROPS/SET_PERIOD/poll racing "
	       "(%lu calls); the checking thread read %zu records before and after\n",
	    n - spinners - slow, slow, have_lk ? lk.rounds * 2 : 0, spinners, (double)ms / 1000, period, io.calls,
	    mine.n);
	if (io.problem[0])
		fail(c, "%s\n", io.problem);
	if (io.errors)
		fail(c, "%lu ioctl/poll call(s) failed (last: %s)\n", io.errors, errname(io.last_err));
	if (mine.bad)
		fail(c, "the checking thread: %s\n", mine.problem);
	if (!stopped) {
		out(c, "(accounting skipped: a reader is still blocked)\n");
		goto close_readers;
	}
	if (!total)
		fail(c, "the blocked readers got no record in %.1f s\n", (double)ms / 1000);
	size_t k = 0;
	for (size_t j = 0; j < mine.n && k < sizeof(tk_all) / sizeof(tk_all[0]); j++)
		tk_all[k++] = (struct tk_seen){ mine.r[j].seq, -1 };
	for (int i = 0; i < n; i++)
		for (size_t j = 0; j < tk_readers[i].log.n && k < sizeof(tk_all) / sizeof(tk_all[0]); j++)
			tk_all[k++] = (struct tk_seen){ tk_readers[i].log.r[j].seq, i };
	struct tk_account a;
	tk_account(tk_all, k, &a);
	char why[600];
	out(c, "all readers: %zu records, seq %" PRIu64 "..%" PRIu64 ", %" PRIu64 " missing, %" PRIu64
	       " read twice, drop counter %" PRIu64 " -> %" PRIu64 "\n",
	    a.n, a.first, a.last, a.missing, a.dups, d0, d1);
	if (tk_account_explain(&a, d1 - d0, why, sizeof(why)))
		fail(c, "%s\n", why);
close_readers:
	tk_close_readers(n);
out:
	tk_set_period(c, fd, 10);
	close(fd);
}

void t_ticker_race_ioctl(struct ctx *c)
{
	int n = (int)test_param_long(c->test, "readers", 3);
	int spinners = (int)test_param_long(c->test, "spinners", 1);
	int slow = (int)test_param_long(c->test, "slow", 1);
	long ms = test_param_long(c->test, "seconds", 2) * 1000;
	if (n < 1 || spinners < 0 || slow < 0 || n + spinners + slow > TK_MAX_READERS || ms < 100 || ms > 60000) {
		error_(c, "bad parameters");
		return;
	}
	int fd = tk_open(c, O_NONBLOCK);
	if (fd < 0)
		return;
	stress_install_kick();
	int shared = -1;
	static struct tk_ioctler io;
	static struct tk_storm storm;
	memset(&io, 0, sizeof(io));
	memset(&storm, 0, sizeof(storm));
	n += spinners + slow;
	if (tk_start_readers(c, n, spinners, slow, &shared) < 0) {
		tk_stop_readers(c, tk_readers, n);
		goto close_readers;
	}
	io.fd = fd;
	io.flush = 1;
	storm.dev = main_device(c);
	atomic_store(&helpers_run, 1);
	int have_io = pthread_create(&io.th, NULL, tk_ioctl_main, &io) == 0;
	int have_storm = pthread_create(&storm.th, NULL, tk_storm_main, &storm) == 0;
	static struct tk_locker lk;
	int have_lk = slow > 0 && tk_start_locker(&lk) == 0;
	uint64_t t0 = now_mono_ms();
	while (now_mono_ms() - t0 < (uint64_t)ms)
		sleep_ms(50);
	atomic_store(&helpers_run, 0);
	if (have_io)
		pthread_join(io.th, NULL);
	if (have_storm)
		pthread_join(storm.th, NULL);
	tk_stop_locker(&lk, have_lk);
	tk_set_period(c, fd, 10);
	int stopped = tk_stop_readers(c, tk_readers, n) == 0;

	size_t total = tk_report_readers(c, n);
	out(c, "%d blocking readers, %d whose reads fault and %d non-blocking ones for %.1f s with "
	       "TICKER_FLUSH, SET_PERIOD(1..20 and 0), GET_DROPS and poll racing (%lu calls) and "
	       "open/read/close storms (%lu opens, %lu refused)\n",
	    n - spinners - slow, slow, spinners, (double)ms / 1000, io.calls, storm.opens, storm.fails);
	if (io.problem[0])
		fail(c, "%s\n", io.problem);
	if (io.errors)
		fail(c, "%lu ioctl/poll call(s) failed (last: %s)\n", io.errors, errname(io.last_err));
	if (storm.fails)
		fail(c, "%lu open(s) of %s failed\n", storm.fails, storm.dev);
	if (stopped && total) {
		/* flushes make gaps; but no record may reach two readers */
		size_t k = 0;
		for (int i = 0; i < n; i++)
			for (size_t j = 0; j < tk_readers[i].log.n && k < sizeof(tk_all) / sizeof(tk_all[0]); j++)
				tk_all[k++] = (struct tk_seen){ tk_readers[i].log.r[j].seq, i };
		struct tk_account a;
		tk_account(tk_all, k, &a);
		char why[600];
		if (a.dups && tk_account_explain(&a, a.missing, why, sizeof(why)))
			fail(c, "%s\n", why);
		else
			out(c, "%zu records, none read twice\n", a.n);
	}
close_readers:
	tk_close_readers(n);
	tk_set_period(c, fd, 10);
	close(fd);
}

/* --------------------------------------------------- ticker_unload_blocked */

void t_ticker_unload_blocked(struct ctx *c)
{
	int fd = tk_open(c, 0);
	if (fd < 0)
		return;
	int fdnb = tk_open(c, O_NONBLOCK);
	if (fdnb < 0) {
		close(fd);
		return;
	}
	stress_install_kick();
	static struct bread b;
	char res[64];
	if (tk_set_period(c, fd, 1000))
		goto out;
	sleep_ms(50);
	int blocked = 0;
	for (int i = 0; i < 3 && !blocked; i++) {
		if (tk_flush(c, fd) || bread_start(c, &b, fd, TK_REC))
			goto out;
		sleep_ms(200);
		blocked = !bread_wait(&b, 0);
	}
	if (!blocked) {
		out(c, "(a record arrived within 200 ms of a flush three times at a period of 1000 ms: "
		       "no reader stayed blocked)\n");
	}
	long r = syscall(SYS_delete_module, c->plan->module_name, O_NONBLOCK);
	int e = errno;
	if (r == 0) {
		c->st->module_loaded = 0;
		c->st->module_unloaded = 1;
		kmarker("module %s unloaded", c->plan->module_name);
		fail(c, "the module unloaded while %s was open%s: the file operations need .owner = "
			"THIS_MODULE\n", main_device(c), blocked ? " and a reader blocked in read()" : "");
		if (blocked && !bread_kick(&b, 3000))
			out(c, "the blocked reader did not return after the unload, even for SIGUSR1\n");
		close(fdnb);
		close(fd);
		return;
	}
	if (e == EBUSY || e == EAGAIN)
		out(c, "delete_module refused with %s while %s was open%s\n", errname(e), main_device(c),
		    blocked ? " and a reader blocked in read()" : "");
	else
		fail(c, "delete_module failed with unexpected %s (%s)\n", errname(e), strerror(e));

	/* the blocked reader is still served */
	if (blocked) {
		tk_set_period(c, fdnb, 10);
		if (bread_wait(&b, 3000)) {
			if (b.r > 0 && b.r % (ssize_t)TK_REC == 0)
				out(c, "the blocked reader then got a record after %llu ms in read()\n",
				    (unsigned long long)(b.t_end - b.t_start));
			else
				fail(c, "the blocked read returned %s after the refused unload, expected a "
					"record\n", bread_result(&b, res, sizeof(res)));
		} else {
			fail(c, "after the refused unload the blocked reader got no record within 3 s at a "
				"period of 10 ms\n");
			if (!bread_kick(&b, 3000))
				out(c, "and it did not return for SIGUSR1 either\n");
		}
	}
out:
	tk_set_period(c, fdnb, 10);
	close(fdnb);
	close(fd);
}
