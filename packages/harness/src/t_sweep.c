/*
 * The generic profile's systematic sweep of what a hostile (or careless) user program can hand a
 * character driver: file offsets and counts, bad user pointers, non-blocking and polled I/O,
 * mmap, an ioctl sweep, and module load/unload cycles with opens racing them. Each phase is a
 * test kind of its own, says in its output what it tried, and is bounded in calls and time.
 * No errno is wrong here (EFAULT, EINVAL, a short count... are all fine): the kernel's
 * sanitizers judge, and a report during a phase fails it. Only what no driver may do fails the
 * phase by itself: a negative file position, a read returning more than asked, a hang.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "harness.h"

#define SWEEP_MAX_NODES 16
#define PAGE 4096

/* the nodes a sweep covers: discovered ones (at most SWEEP_MAX_NODES), else the fixed device */
static int sweep_nodes(struct ctx *c, const char **nodes)
{
	int n = 0;
	for (int i = 0; i < c->st->ndevices && n < SWEEP_MAX_NODES; i++)
		nodes[n++] = c->st->devices[i].path;
	if (!n && c->plan->device[0])
		nodes[n++] = c->plan->device;
	if (c->st->ndevices > SWEEP_MAX_NODES)
		out(c, "(sweeping the first %d of %d nodes)\n", SWEEP_MAX_NODES, c->st->ndevices);
	return n;
}

/* opens read-write when the driver allows it, else read-only or write-only */
static int open_node(const char *path, int extra)
{
	static const int modes[] = { O_RDWR, O_RDONLY, O_WRONLY };
	for (int i = 0; i < 3; i++) {
		int fd = open(path, modes[i] | O_CLOEXEC | extra);
		if (fd >= 0)
			return fd;
		if (errno != EACCES && errno != EPERM && errno != EINVAL)
			return -1;
	}
	return -1;
}

/* counts of outcomes, printed as "ok N, EINVAL N, ..." */
struct tally {
	unsigned ok, by_errno[160];
	unsigned long long calls;
};

static void count(struct tally *t, ssize_t r)
{
	t->calls++;
	if (r >= 0)
		t->ok++;
	else if (errno > 0 && errno < 160)
		t->by_errno[errno]++;
}

static void print_tally(struct ctx *c, const char *what, const struct tally *t)
{
	out(c, "  %s: %llu calls: %u ok", what, t->calls, t->ok);
	for (int e = 1; e < 160; e++)
		if (t->by_errno[e])
			out(c, ", %s %u", errname(e), t->by_errno[e]);
	out(c, "\n");
}

static int skip_without_nodes(struct ctx *c, int n)
{
	if (n)
		return 0;
	set_status(c, "skip");
	out(c, "skipped: no device node was found");
	return 1;
}

/* ------------------------------------------------------------- offsets */

void t_sweep_offsets(struct ctx *c)
{
	const char *nodes[SWEEP_MAX_NODES];
	int n = sweep_nodes(c, nodes);
	if (skip_without_nodes(c, n))
		return;
	static unsigned char buf[(1 << 20) + PAGE];
	fill_pattern(buf, sizeof(buf), 7);
	const size_t counts[] = { 0, 1, 4095, 4096, 4097, 64 * 1024, 1 << 20 };
	for (int i = 0; i < n; i++) {
		int fd = open_node(nodes[i], O_NONBLOCK);
		if (fd < 0) {
			out(c, "%s: open: %s (skipped)\n", nodes[i], errname(errno));
			continue;
		}
		/* put some data there first, so "size" means something for buffer drivers */
		ssize_t size = write(fd, buf, 100);
		if (size <= 0)
			size = 100;
		const long long offs[] = { 0, 1, size - 1, size, size + 1, PAGE - 1, PAGE, PAGE + 1, 1LL << 31, INT64_MAX };
		struct tally seeks = { 0 }, reads = { 0 }, writes = { 0 }, preads = { 0 }, pwrites = { 0 };
		for (size_t o = 0; o < sizeof(offs) / sizeof(offs[0]); o++) {
			errno = 0;
			off_t at = lseek(fd, (off_t)offs[o], SEEK_SET);
			count(&seeks, at);
			for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
				if (at >= 0)
					lseek(fd, at, SEEK_SET);
				ssize_t r = read(fd, buf, counts[k]);
				count(&reads, r);
				if (r > (ssize_t)counts[k])
					fail(c, "%s: read of %zu bytes at %lld returned %zd\n", nodes[i], counts[k], offs[o], r);
				r = pread(fd, buf, counts[k], (off_t)offs[o]);
				count(&preads, r);
				if (r > (ssize_t)counts[k])
					fail(c, "%s: pread of %zu bytes at %lld returned %zd\n", nodes[i], counts[k], offs[o], r);
				if (at >= 0)
					lseek(fd, at, SEEK_SET);
				count(&writes, write(fd, buf, counts[k]));
				count(&pwrites, pwrite(fd, buf, counts[k], (off_t)offs[o]));
			}
		}
		/* relative to the end, and backwards */
		const long long ends[] = { -1, 0, 1, -size, -(size + 1), PAGE };
		for (size_t e = 0; e < sizeof(ends) / sizeof(ends[0]); e++) {
			off_t at = lseek(fd, (off_t)ends[e], SEEK_END);
			count(&seeks, at);
			count(&reads, read(fd, buf, PAGE));
			count(&writes, write(fd, buf, 16));
		}
		for (long long neg = -1; neg >= -4096; neg *= 64) {
			errno = 0;
			off_t at = lseek(fd, (off_t)neg, SEEK_SET);
			count(&seeks, at);
			if (at < 0 && errno == EINVAL)
				continue;
			if (at >= 0 && at > INT64_MAX / 2) /* wrapped: a negative position */
				fail(c, "%s: lseek to %lld gave position %lld\n", nodes[i], neg, (long long)at);
			else if (at >= 0 && at != 0)
				fail(c, "%s: lseek to %lld succeeded (position %lld): negative offsets must give EINVAL\n",
				     nodes[i], neg, (long long)at);
			if (at >= 0) /* what does the driver do at that position? */
				count(&reads, read(fd, buf, 64));
		}
		/* a position past the end of a 32-bit loff reader */
		count(&preads, pread(fd, buf, 16, (off_t)INT64_MAX - 8));
		close(fd);
		out(c, "%s (wrote %zd bytes first):\n", nodes[i], size);
		print_tally(c, "lseek SEEK_SET/SEEK_END/negative", &seeks);
		print_tally(c, "read at each offset, counts 0..1 MiB", &reads);
		print_tally(c, "pread", &preads);
		print_tally(c, "write", &writes);
		print_tally(c, "pwrite", &pwrites);
	}
}

/* --------------------------------------------------------- user pointers */

void t_sweep_pointers(struct ctx *c)
{
	const char *nodes[SWEEP_MAX_NODES];
	int n = sweep_nodes(c, nodes);
	if (skip_without_nodes(c, n))
		return;
	/* a read-only page, an unmapped page, and two pages whose second is unmapped */
	unsigned char *ro = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *two = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *gone = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ro == MAP_FAILED || two == MAP_FAILED || gone == MAP_FAILED) {
		error_(c, "mmap: %s", strerror(errno));
		return;
	}
	munmap(two + PAGE, PAGE);
	munmap(gone, PAGE);
	fill_pattern(two, PAGE, 3);
	struct {
		const char *what;
		void *p;
		size_t len;
	} bad[] = {
		{ "NULL", NULL, 64 },
		{ "an unmapped page", gone, 64 },
		{ "a kernel address", (void *)0xffffffff81000000ull, 64 },
		{ "the last byte of a page before an unmapped one", two + PAGE - 1, 64 },
		{ "a buffer whose second page is unmapped", two + PAGE - 512, 4096 },
	};
	for (int i = 0; i < n; i++) {
		struct tally reads = { 0 }, writes = { 0 };
		for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
			int fd = open_node(nodes[i], O_NONBLOCK);
			if (fd < 0)
				continue;
			ssize_t w = write(fd, bad[b].p, bad[b].len);
			count(&writes, w);
			if (w > (ssize_t)bad[b].len)
				fail(c, "%s: write from %s returned %zd for %zu bytes\n", nodes[i], bad[b].what, w, bad[b].len);
			/* give the driver something to read, then read into the bad buffer */
			if (write(fd, two, 256) < 0) { /* fine: maybe write-only or read-only */
			}
			lseek(fd, 0, SEEK_SET);
			ssize_t r = read(fd, bad[b].p, bad[b].len);
			count(&reads, r);
			if (r > (ssize_t)bad[b].len)
				fail(c, "%s: read into %s returned %zd for %zu bytes\n", nodes[i], bad[b].what, r, bad[b].len);
			close(fd);
		}
		/* read() into a read-only page: the driver's copy_to_user must fail, not the kernel */
		int fd = open_node(nodes[i], O_NONBLOCK);
		if (fd >= 0) {
			if (write(fd, two, 256) < 0) {
			}
			lseek(fd, 0, SEEK_SET);
			count(&reads, read(fd, ro, 64));
			close(fd);
		}
		out(c, "%s: bad buffers (NULL, unmapped, kernel address, straddling an unmapped page, read-only page):\n",
		    nodes[i]);
		print_tally(c, "write from a bad buffer", &writes);
		print_tally(c, "read into a bad buffer", &reads);
	}
	munmap(ro, PAGE);
	munmap(two, PAGE);
}

/* ----------------------------------------------- non-blocking, poll, mmap */

static sigjmp_buf mmap_jump;
static void on_mmap_fault(int sig)
{
	siglongjmp(mmap_jump, sig);
}

void t_sweep_modes(struct ctx *c)
{
	const char *nodes[SWEEP_MAX_NODES];
	int n = sweep_nodes(c, nodes);
	if (skip_without_nodes(c, n))
		return;
	unsigned char buf[PAGE];
	fill_pattern(buf, sizeof(buf), 11);
	for (int i = 0; i < n; i++) {
		int fd = open_node(nodes[i], O_NONBLOCK);
		if (fd < 0) {
			out(c, "%s: open(O_NONBLOCK): %s\n", nodes[i], errname(errno));
			continue;
		}
		/* non-blocking I/O must not block: the watchdog would catch it; time it anyway */
		uint64_t t0 = now_mono_ms();
		ssize_t r = read(fd, buf, sizeof(buf));
		int re = errno;
		ssize_t w = write(fd, buf, 128);
		int we = errno;
		out(c, "%s: O_NONBLOCK read %zd%s%s, write %zd%s%s (%llu ms)\n", nodes[i], r, r < 0 ? " " : "",
		    r < 0 ? errname(re) : "", w, w < 0 ? " " : "", w < 0 ? errname(we) : "",
		    (unsigned long long)(now_mono_ms() - t0));

		struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT | POLLPRI };
		t0 = now_mono_ms();
		int pr = poll(&p, 1, 200);
		uint64_t waited = now_mono_ms() - t0;
		out(c, "  poll(200 ms): %d, revents 0x%x, after %llu ms\n", pr, pr > 0 ? p.revents : 0,
		    (unsigned long long)waited);
		if (waited > 2000)
			fail(c, "  poll with a 200 ms timeout took %llu ms\n", (unsigned long long)waited);

		if (fd < FD_SETSIZE) {
			fd_set rd, wr;
			FD_ZERO(&rd);
			FD_ZERO(&wr);
			FD_SET(fd, &rd);
			FD_SET(fd, &wr);
			struct timeval tv = { 0, 200000 };
			t0 = now_mono_ms();
			int sr = select(fd + 1, &rd, &wr, NULL, &tv);
			out(c, "  select(200 ms): %d after %llu ms\n", sr, (unsigned long long)(now_mono_ms() - t0));
		}

		/* mmap: a driver without .mmap says ENODEV; one with it must give memory that can be read */
		void *m = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0);
		if (m == MAP_FAILED) {
			out(c, "  mmap: %s\n", errname(errno));
		} else {
			struct sigaction sa = { .sa_handler = on_mmap_fault }, old_segv, old_bus;
			sigaction(SIGSEGV, &sa, &old_segv);
			sigaction(SIGBUS, &sa, &old_bus);
			int sig = sigsetjmp(mmap_jump, 1);
			if (!sig) {
				volatile unsigned char first = *(volatile unsigned char *)m;
				(void)first;
				out(c, "  mmap: mapped, first page readable\n");
			} else {
				out(c, "  mmap: mapped, reading it raised signal %d\n", sig);
			}
			sigaction(SIGSEGV, &old_segv, NULL);
			sigaction(SIGBUS, &old_bus, NULL);
			munmap(m, PAGE);
		}
		close(fd);
	}
}

/* ---------------------------------------------------------------- ioctl */

void t_sweep_ioctl(struct ctx *c)
{
	const char *nodes[SWEEP_MAX_NODES];
	int n = sweep_nodes(c, nodes);
	if (skip_without_nodes(c, n))
		return;
	int seconds = (int)test_param_long(c->test, "seconds", 4);
	int max_nr = (int)test_param_long(c->test, "nr", 8);
	if (seconds < 1 || seconds > 120 || max_nr < 1 || max_nr > 256) {
		error_(c, "bad parameters");
		return;
	}
	static unsigned char valid[PAGE] __attribute__((aligned(64)));
	unsigned char *gone = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (gone == MAP_FAILED) {
		error_(c, "mmap: %s", strerror(errno));
		return;
	}
	munmap(gone, PAGE);
	/* type letters drivers use, plus 0 for drivers that switch on plain numbers */
	static const char types[] = "\0abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
	static const unsigned sizes[] = { 1, 4, 8, 16, 64, 256 };
	void *const ptrs[] = { valid, NULL, gone, (void *)0xffffffff81000000ull };
	static const char *const ptr_names[] = { "valid", "NULL", "unmapped", "kernel" };
	uint64_t deadline = now_mono_ms() + (uint64_t)seconds * 1000;
	for (int i = 0; i < n && now_mono_ms() < deadline; i++) {
		int fd = open_node(nodes[i], O_NONBLOCK);
		if (fd < 0) {
			out(c, "%s: open: %s\n", nodes[i], errname(errno));
			continue;
		}
		struct tally t = { 0 };
		char accepted[1024] = "";
		size_t alen = 0;
		int cut = 0;
		for (size_t ti = 0; ti < sizeof(types) - 1 && !cut; ti++) {
			for (int nr = 0; nr < max_nr && !cut; nr++) {
				if (now_mono_ms() >= deadline) {
					cut = 1;
					break;
				}
				/* _IO: the argument as a plain value */
				const unsigned long values[] = { 0, 1, (unsigned long)-1, 0x7fffffff };
				for (size_t v = 0; v < 4; v++) {
					long r = ioctl(fd, _IO(types[ti], nr), values[v]);
					count(&t, r);
					if (r >= 0 && v == 0 && alen + 24 < sizeof(accepted))
						alen += (size_t)snprintf(accepted + alen, sizeof(accepted) - alen, " _IO('%c',%d)",
									 types[ti] ? types[ti] : '0', nr);
				}
				for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
					for (size_t p = 0; p < 4; p++) {
						fill_pattern(valid, sizeof(valid), (unsigned)(nr + s));
						count(&t, ioctl(fd, _IOR(types[ti], nr, char[sizes[s]]), ptrs[p]));
						count(&t, ioctl(fd, _IOW(types[ti], nr, char[sizes[s]]), ptrs[p]));
						long r = ioctl(fd, _IOWR(types[ti], nr, char[sizes[s]]), ptrs[p]);
						count(&t, r);
						(void)ptr_names;
					}
				}
			}
		}
		close(fd);
		out(c, "%s: ioctl sweep over %d type letters x nr 0..%d, _IO with values 0/1/-1/INT_MAX, "
		       "_IOR/_IOW/_IOWR of 1..256 bytes with valid, NULL, unmapped and kernel pointers%s\n",
		    nodes[i], (int)sizeof(types) - 1, max_nr - 1, cut ? " (cut at the time limit)" : "");
		print_tally(c, "ioctl", &t);
		if (alen)
			out(c, "  commands accepted (returned >= 0):%s\n", accepted);
	}
}

/* ---------------------------------------------------------- load cycles */

static atomic_int cycling;

struct opener {
	const char *nodes[SWEEP_MAX_NODES];
	int n;
	atomic_ulong opens, fails;
};

static void *opener_main(void *arg)
{
	struct opener *o = arg;
	unsigned i = 0;
	char b[64];
	while (atomic_load(&cycling)) {
		int fd = open(o->nodes[i++ % (unsigned)o->n], O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (fd >= 0) {
			atomic_fetch_add(&o->opens, 1);
			if (read(fd, b, sizeof(b)) < 0) {
			}
			close(fd);
		} else {
			atomic_fetch_add(&o->fails, 1);
		}
	}
	return NULL;
}

static int load_module(const struct ctx *c)
{
	int fd = open(c->plan->module_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = (int)syscall(SYS_finit_module, fd, "", 0);
	int e = errno;
	close(fd);
	return r < 0 ? -e : 0;
}

static int unload_module(const struct ctx *c)
{
	for (int i = 0; i < 100; i++) {
		if (syscall(SYS_delete_module, c->plan->module_name, O_NONBLOCK) == 0)
			return 0;
		if (errno != EBUSY && errno != EAGAIN)
			return -errno;
		sleep_ms(20);
	}
	return -EBUSY;
}

void t_load_cycles(struct ctx *c)
{
	int cycles = (int)test_param_long(c->test, "cycles", 3);
	int threads = (int)test_param_long(c->test, "threads", 2);
	if (cycles < 1 || cycles > 50 || threads < 0 || threads > 16) {
		error_(c, "bad parameters");
		return;
	}
	static struct opener o;
	memset(&o, 0, sizeof(o));
	o.n = sweep_nodes(c, o.nodes);
	pthread_t th[16];
	int started = 0;
	atomic_store(&cycling, 1);
	for (int i = 0; i < threads && o.n; i++) {
		int e = pthread_create(&th[i], NULL, opener_main, &o);
		if (e) {
			out(c, "pthread_create: %s\n", strerror(e));
			break;
		}
		started++;
	}
	int done = 0;
	for (; done < cycles; done++) {
		int r = unload_module(c);
		if (r < 0) {
			fail(c, "cycle %d: unloading failed: %s\n", done + 1, errname(-r));
			break;
		}
		c->st->module_loaded = 0;
		sleep_ms(50); /* opens race the module being gone */
		r = load_module(c);
		if (r < 0) {
			fail(c, "cycle %d: loading again failed: %s\n", done + 1, errname(-r));
			break;
		}
		c->st->module_loaded = 1;
		module_read_sections(c); /* it moved: leaks and raw addresses are looked up in the new place */
		sleep_ms(50);
	}
	atomic_store(&cycling, 0);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	out(c, "%d unload/load cycle(s) of %d, %d thread(s) opening %d node(s) meanwhile: %lu opens, %lu "
	       "refused\n", done, cycles, started, o.n, atomic_load(&o.opens), atomic_load(&o.fails));
}
