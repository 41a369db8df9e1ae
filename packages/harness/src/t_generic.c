/* generic_stress (chardev-generic): random I/O and open/close churn on every node. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* -------------------------------------------------------- generic_stress */

#define SLOTS 16       /* shared mode: open files any thread may use */
#define OWN_SLOTS 4    /* own mode: open files per thread, never shared */
#define BIG (64 * 1024)

struct gen {
	int nnodes;
	int own; /* each thread uses only the files it opened */
	const char *nodes[MAX_DEVICES];
	atomic_int slots[64 * OWN_SLOTS];
	atomic_ulong opens, open_fail, writes, write_ok, reads, read_ok, seeks, closes;
};

struct gworker {
	struct gen *g;
	unsigned id;
	pthread_t th;
};

static size_t rand_size(uint64_t *rs)
{
	switch (stress_rnd(rs) % 4) {
	case 0:
		return stress_rnd(rs) % 257;
	case 1:
		return 4096 - 64 + stress_rnd(rs) % 129;
	default:
		return stress_rnd(rs) % (BIG + 1);
	}
}

static int rand_open(struct gen *g, uint64_t *rs)
{
	static const int modes[] = { O_RDONLY, O_WRONLY, O_RDWR };
	const char *node = g->nodes[stress_rnd(rs) % (uint64_t)g->nnodes];
	int fd = open(node, modes[stress_rnd(rs) % 3] | O_NONBLOCK | O_CLOEXEC);
	atomic_fetch_add(fd >= 0 ? &g->opens : &g->open_fail, 1);
	return fd;
}

static void *gworker_main(void *arg)
{
	struct gworker *wk = arg;
	struct gen *g = wk->g;
	uint64_t rs = 0xD1B54A32D192ED03ull * (wk->id + 7) + 3;
	unsigned char *buf = malloc(BIG + 1);
	if (!buf)
		return NULL;
	fill_pattern(buf, BIG + 1, wk->id);
	while (stress_running()) {
		unsigned op = (unsigned)(stress_rnd(&rs) % 100);
		int slot = g->own ? (int)(wk->id * OWN_SLOTS + stress_rnd(&rs) % OWN_SLOTS) : (int)(stress_rnd(&rs) % SLOTS);
		if (op < 15) {
			int fd = rand_open(g, &rs);
			if (fd >= 0) {
				int old = atomic_exchange(&g->slots[slot], fd);
				if (old >= 0) {
					close(old);
					atomic_fetch_add(&g->closes, 1);
				}
			}
		} else if (op < 22) {
			int old = atomic_exchange(&g->slots[slot], -1);
			if (old >= 0) {
				close(old);
				atomic_fetch_add(&g->closes, 1);
			}
		} else if (op < 90) {
			int fd = atomic_load(&g->slots[slot]);
			if (fd < 0)
				continue;
			/* the fd may be closed (or even reused for another node) concurrently: fine */
			if (op < 45) {
				size_t n = rand_size(&rs);
				atomic_fetch_add(&g->writes, 1);
				if (write(fd, buf, n) >= 0)
					atomic_fetch_add(&g->write_ok, 1);
			} else if (op < 75) {
				size_t n = stress_rnd(&rs) % 2 ? BIG : rand_size(&rs);
				atomic_fetch_add(&g->reads, 1);
				if (read(fd, buf, n) >= 0)
					atomic_fetch_add(&g->read_ok, 1);
			} else {
				static const int whence[] = { SEEK_SET, SEEK_CUR, SEEK_END };
				off_t off;
				switch (stress_rnd(&rs) % 4) {
				case 0: off = 0; break;
				case 1: off = (off_t)(stress_rnd(&rs) % (BIG * 2)); break;
				case 2: off = -(off_t)(stress_rnd(&rs) % (BIG * 2)); break;
				default: off = (off_t)(stress_rnd(&rs) >> 2); break;
				}
				atomic_fetch_add(&g->seeks, 1);
				if (lseek(fd, off, whence[stress_rnd(&rs) % 3]) < 0) { /* errors are fine */
				}
			}
		} else {
			/* open/close churn, sometimes with one small read or write in between */
			int fd = rand_open(g, &rs);
			if (fd >= 0) {
				if (op % 3 == 0 && read(fd, buf, 1 + stress_rnd(&rs) % 64) < 0) {
				}
				if (op % 3 == 1 && write(fd, buf, 1 + stress_rnd(&rs) % 64) < 0) {
				}
				close(fd);
				atomic_fetch_add(&g->closes, 1);
			}
		}
	}
	free(buf);
	return NULL;
}

void t_generic_stress(struct ctx *c)
{
	static struct gen g;
	memset(&g, 0, sizeof(g));
	if (c->st->ndevices) {
		for (int i = 0; i < c->st->ndevices; i++)
			g.nodes[g.nnodes++] = c->st->devices[i].path;
	} else if (c->plan->device[0]) {
		g.nodes[g.nnodes++] = c->plan->device;
	}
	if (!g.nnodes) {
		set_status(c, "skip");
		out(c, "skipped: no device node was found");
		return;
	}
	int threads = (int)test_param_long(c->test, "threads", 4);
	int seconds = (int)test_param_long(c->test, "seconds", 3);
	g.own = test_param_long(c->test, "own_fds", 0) != 0;
	if (threads < 1 || threads > 64 || seconds < 1 || seconds > 600) {
		error_(c, "bad parameters");
		return;
	}
	for (size_t i = 0; i < sizeof(g.slots) / sizeof(g.slots[0]); i++)
		atomic_init(&g.slots[i], -1);
	struct kcsan_tuning kt;
	kcsan_tune_begin(c, &kt);
	stress_install_kick();
	stress_start();
	static struct gworker wk[64];
	pthread_t th[64];
	int started = 0;
	for (int i = 0; i < threads; i++) {
		wk[i].g = &g;
		wk[i].id = (unsigned)i;
		if (pthread_create(&wk[i].th, NULL, gworker_main, &wk[i]) != 0)
			break;
		th[started++] = wk[i].th;
	}
	uint64_t t0 = now_mono_ms();
	while (now_mono_ms() - t0 < (uint64_t)seconds * 1000)
		sleep_ms(50);
	stress_stop_and_join(th, started);
	kcsan_tune_end(c, &kt);
	for (size_t i = 0; i < sizeof(g.slots) / sizeof(g.slots[0]); i++) {
		int fd = atomic_exchange(&g.slots[i], -1);
		if (fd >= 0)
			close(fd);
	}
	out(c, "%d thread(s) %s on %d node(s) for %.1f s: %lu opens (%lu failed), %lu writes (%lu ok), "
	       "%lu reads (%lu ok), %lu seeks, %lu closes\n",
	    started, g.own ? "each on its own open files" : "sharing open files", g.nnodes,
	    (double)(now_mono_ms() - t0) / 1000, atomic_load(&g.opens),
	    atomic_load(&g.open_fail), atomic_load(&g.writes), atomic_load(&g.write_ok),
	    atomic_load(&g.reads), atomic_load(&g.read_ok), atomic_load(&g.seeks), atomic_load(&g.closes));
	if (!atomic_load(&g.opens))
		fail(c, "no open of any node succeeded, so nothing but open() was exercised\n");
}
