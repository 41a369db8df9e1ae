/* Worker threads of the stress tests: a stop flag, a kick out of blocking calls, a PRNG. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

#include "harness.h"

static atomic_int stop_flag;

int stress_running(void)
{
	return !atomic_load_explicit(&stop_flag, memory_order_relaxed);
}


static void on_usr1(int sig)
{
	(void)sig; /* only there to interrupt blocking system calls (no SA_RESTART) */
}

void stress_install_kick(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
}

/* Stops the workers and joins them, kicking any that sit in a blocking call. A worker stuck in
 * the kernel for good keeps us here until the watchdog declares the test hung. */
void stress_stop_and_join(pthread_t *th, int n)
{
	atomic_store(&stop_flag, 1);
	for (int i = 0; i < n; i++) {
		while (pthread_tryjoin_np(th[i], NULL) == EBUSY) {
			pthread_kill(th[i], SIGUSR1);
			sleep_ms(20);
		}
	}
}

uint64_t stress_rnd(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}


void stress_start(void)
{
	atomic_store(&stop_flag, 0);
}
