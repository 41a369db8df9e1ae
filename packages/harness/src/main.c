/*
 * kgrader-harness <plan> <result-channel>
 *
 * Runs the plan's tests, each in a forked child under a watchdog, and writes JSON-line events
 * to the result channel. See ../PROTOCOL.md.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "harness.h"

/* the plan's nonce, also put into every kernel-log marker (util.c) */
char marker_nonce[NONCE_HEX + 1] = "0000000000000000";
/* by-hand runs (outside the VM) neither read the host's kernel log nor touch its printk settings */
static int in_vm;

static void emit_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void emit_log(const char *fmt, ...)
{
	char msg[2048], esc[8192], line[8300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_escape(esc, sizeof(esc), msg, strlen(msg));
	snprintf(line, sizeof(line), "{\"event\":\"log\",\"message\":\"%s\"}", esc);
	emit_line(line);
}

static void emit_test_start(const char *name)
{
	char esc[1024], line[1200];
	json_escape(esc, sizeof(esc), name, strlen(name));
	snprintf(line, sizeof(line), "{\"event\":\"test_start\",\"name\":\"%s\",\"uptimeMs\":%llu}", esc,
		 (unsigned long long)now_boot_ms());
	emit_line(line);
}

static void emit_test_end(const char *name, const char *status, const char *output, size_t outlen,
			  uint64_t duration_ms)
{
	static char esc_out[OUTPUT_CAP * 6 + 16], line[OUTPUT_CAP * 6 + 1400];
	char esc_name[1024];
	json_escape(esc_name, sizeof(esc_name), name, strlen(name));
	json_escape(esc_out, sizeof(esc_out), output, outlen);
	snprintf(line, sizeof(line),
		 "{\"event\":\"test_end\",\"name\":\"%s\",\"status\":\"%s\",\"output\":\"%s\",\"durationMs\":%llu}",
		 esc_name, status, esc_out, (unsigned long long)duration_ms);
	emit_line(line);
}

/* ----------------------------------------------------------- test table */

struct kind {
	const char *name;
	test_fn fn;
	int runs_without_module; /* still meaningful when the module is not (or no longer) loaded */
};

static const struct kind kinds[] = {
	{ "load", t_load, 1 },
	{ "discover", t_discover, 0 },
	{ "unload_busy", t_unload_busy, 0 },
	{ "unload", t_unload, 0 },
	{ "kmemleak", t_kmemleak, 1 },
	{ "empty_read", t_empty_read, 0 },
	{ "write_read", t_write_read, 0 },
	{ "replace", t_replace, 0 },
	{ "max_size", t_max_size, 0 },
	{ "read_offsets", t_read_offsets, 0 },
	{ "open_resets_offset", t_open_resets_offset, 0 },
	{ "alloc_failure", t_alloc_failure, 0 },
	{ "bad_buffers", t_bad_buffers, 0 },
	{ "offset_edges", t_offset_edges, 0 },
	{ "race_writers", t_race_writers, 0 },
	{ "race_open_close", t_race_open_close, 0 },
	{ "generic_stress", t_generic_stress, 0 },
	{ "sweep_offsets", t_sweep_offsets, 0 },
	{ "sweep_pointers", t_sweep_pointers, 0 },
	{ "sweep_modes", t_sweep_modes, 0 },
	{ "sweep_ioctl", t_sweep_ioctl, 0 },
	{ "load_cycles", t_load_cycles, 0 },
	{ "ticker_records", t_ticker_records, 0 },
	{ "ticker_blocking", t_ticker_blocking, 0 },
	{ "ticker_period", t_ticker_period, 0 },
	{ "ticker_sequence", t_ticker_sequence, 0 },
	{ "ticker_readers", t_ticker_readers, 0 },
	{ "ticker_race_ioctl", t_ticker_race_ioctl, 0 },
	{ "ticker_unload_blocked", t_ticker_unload_blocked, 0 },
};

static const struct kind *find_kind(const char *name)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(kinds[i].name, name))
			return &kinds[i];
	return NULL;
}

/* ------------------------------------------------------------- watchdog */

/* Appends the kernel stacks of every task of pid to the result output. */
static void describe_stuck(struct ctx *c, pid_t pid)
{
	char dir[64];
	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	DIR *d = opendir(dir);
	if (!d) {
		out(c, "(cannot list %s: %s)\n", dir, strerror(errno));
		return;
	}
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d)) && n < 32) {
		if (de->d_name[0] == '.')
			continue;
		char path[600], comm[64] = "?", stat[512] = "", stack[2048] = "";
		char state = '?';
		snprintf(path, sizeof(path), "%s/%s/comm", dir, de->d_name);
		if (read_file(path, comm, sizeof(comm)) > 0)
			comm[strcspn(comm, "\n")] = 0;
		snprintf(path, sizeof(path), "%s/%s/stat", dir, de->d_name);
		if (read_file(path, stat, sizeof(stat)) > 0) {
			char *rp = strrchr(stat, ')');
			if (rp && rp[1] == ' ')
				state = rp[2];
		}
		snprintf(path, sizeof(path), "%s/%s/stack", dir, de->d_name);
		ssize_t sl = read_file(path, stack, sizeof(stack));
		out(c, "task %s (%s) state %c:\n", de->d_name, comm, state);
		if (sl > 0) {
			/* indent each frame */
			char *save = NULL;
			for (char *l = strtok_r(stack, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
				out(c, "    %s\n", l);
		} else if (sl == 0) {
			out(c, "    (no kernel stack: running in user space or on a CPU)\n");
		} else {
			out(c, "    (stack unreadable: %s)\n", strerror(errno));
		}
		n++;
	}
	closedir(d);
}

static int module_live(const char *name)
{
	char path[300], buf[64];
	snprintf(path, sizeof(path), "/sys/module/%s/initstate", name);
	if (read_file(path, buf, sizeof(buf)) < 0)
		return 0;
	return !strncmp(buf, "live", 4);
}

static int stuck;               /* a hung test left tasks we could not kill */
static char stuck_test[MAX_TOKEN];

static void run_test(const struct plan *plan, const struct test *t, struct shared *sh)
{
	struct ctx c = { .plan = plan, .test = t, .st = &sh->st, .res = &sh->res };
	const struct kind *k = find_kind(t->kind);

	memset(&sh->res, 0, sizeof(sh->res));
	emit_test_start(t->name);
	kmarker("test %s start", t->name);
	uint64_t t0 = now_mono_ms();

	const char *skip = NULL;
	char why[512];
	if (stuck) {
		snprintf(why, sizeof(why), "skipped: test %s hung and its tasks could not be killed",
			 stuck_test);
		skip = why;
	} else if (k && !k->runs_without_module && !sh->st.module_loaded) {
		snprintf(why, sizeof(why), "skipped: module %s is not loaded (%s)", plan->module_name,
			 sh->st.module_unloaded      ? "it was unloaded"
			 : sh->st.module_load_failed ? "loading it failed"
						     : "no load test ran");
		skip = why;
	}
	if (!k) {
		error_(&c, "unknown test kind %s", t->kind);
	} else if (skip) {
		set_status(&c, "skip");
		out(&c, "%s", skip);
	} else {
		fflush(NULL);
		pid_t pid = fork();
		if (pid < 0) {
			error_(&c, "fork: %s", strerror(errno));
		} else if (pid == 0) {
			close(channel_fd());
			signal(SIGPIPE, SIG_IGN);
			k->fn(&c);
			if (!c.res->status_set)
				set_status(&c, "pass");
			_exit(0);
		} else {
			uint64_t deadline = t0 + (uint64_t)t->timeout_s * 1000;
			int wstatus = 0, done = 0;
			for (;;) {
				pid_t w = waitpid(pid, &wstatus, WNOHANG);
				if (w == pid) {
					done = 1;
					break;
				}
				if (w < 0 && errno != EINTR)
					break;
				if (now_mono_ms() >= deadline)
					break;
				if (in_vm)
					kmsg_forward_drain(0);
				sleep_ms(5);
			}
			if (done) {
				if (WIFSIGNALED(wstatus)) {
					error_(&c, "\nharness test process died of signal %d (%s)",
					       WTERMSIG(wstatus), strsignal(WTERMSIG(wstatus)));
				} else if (!sh->res.status_set) {
					error_(&c, "\nharness test process exited (status %d) without a result",
					       WEXITSTATUS(wstatus));
				}
			} else {
				/* hung: report what the tasks are doing, then try to kill them */
				struct result keep = { 0 };
				keep.output_len = sh->res.output_len;
				memcpy(keep.output, sh->res.output, sh->res.output_len);
				memset(sh->res.output, 0, sizeof(sh->res.output));
				sh->res.output_len = 0;
				sh->res.output_truncated = 0;
				sh->res.status_set = 0;
				fail(&c, "hung: the test did not finish within %d s\n", t->timeout_s);
				describe_stuck(&c, pid);
				kill(pid, SIGKILL);
				int reaped = 0;
				for (int i = 0; i < 200; i++) {
					if (waitpid(pid, &wstatus, WNOHANG) == pid) {
						reaped = 1;
						break;
					}
					sleep_ms(10);
				}
				if (reaped) {
					out(&c, "its tasks were killed (none was stuck in the kernel); "
						"later tests still run\n");
				} else {
					stuck = 1;
					snprintf(stuck_test, sizeof(stuck_test), "%s", t->name);
					out(&c, "its tasks could not be killed; later tests are skipped\n");
				}
				if (keep.output_len) {
					out(&c, "output before the hang:\n");
					out(&c, "%s", keep.output);
				}
				if (!strcmp(t->kind, "load"))
					sh->st.module_loaded = module_live(plan->module_name);
			}
			/* forward the events the test queued (module, devices, log) */
			size_t off = 0;
			while (off < sh->res.events_len) {
				char *nl = memchr(sh->res.events + off, '\n', sh->res.events_len - off);
				if (!nl)
					break;
				*nl = 0;
				if (event_is_allowed_from_test(sh->res.events + off))
					emit_line(sh->res.events + off);
				off = (size_t)(nl - sh->res.events) + 1;
			}
			sh->st.last_activity_ms = now_mono_ms();
		}
	}
	if (!sh->res.status_set)
		set_status(&c, "error");
	uint64_t dur = now_mono_ms() - t0;
	if (in_vm) {
		kmsg_forward_drain(1);
		printk_guard_check();
	}
	emit_test_end(t->name, sh->res.status, sh->res.output, sh->res.output_len, dur);
	kmarker("test %s end %s", t->name, sh->res.status);
}

/* ----------------------------------------------------------------- plan */

static int run_plan(const char *plan_text)
{
	struct utsname un;
	char kernel[200] = "unknown", esc[512], line[1024];
	if (uname(&un) == 0)
		snprintf(kernel, sizeof(kernel), "%s", un.release);
	json_escape(esc, sizeof(esc), kernel, strlen(kernel));
	snprintf(line, sizeof(line), "{\"event\":\"hello\",\"cpus\":%ld,\"kernel\":\"%s\",\"uptimeMs\":%llu}",
		 sysconf(_SC_NPROCESSORS_ONLN), esc, (unsigned long long)now_boot_ms());
	emit_line(line);

	static struct plan plan;
	char err[512];
	if (plan_parse_text(plan_text, &plan, err, sizeof(err)) < 0) {
		emit_log("plan error: %s", err);
		fprintf(stderr, "kgrader-harness: %s\n", err);
		snprintf(line, sizeof(line), "{\"event\":\"done\",\"uptimeMs\":%llu}",
			 (unsigned long long)now_boot_ms());
		emit_line(line);
		return 2;
	}

	struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		emit_log("mmap: %s", strerror(errno));
		return 2;
	}
	memset(sh, 0, sizeof(*sh));

	/* forget anything already reported so the kmemleak test only sees what happens after this */
	int forgotten = kmemleak_forget();
	if (forgotten < 0)
		emit_log("kmemleak: not available (%s)", strerror(-forgotten));
	/* from here on every kernel warning or error goes to the host through this channel too,
	 * whatever happens to the console; and printk settings are watched */
	if (in_vm) {
		kmsg_forward_open();
		printk_guard_init();
	}

	for (int i = 0; i < plan.ntests; i++)
		run_test(&plan, &plan.tests[i], sh);

	if (in_vm)
		kmsg_forward_drain(1);
	snprintf(line, sizeof(line), "{\"event\":\"done\",\"uptimeMs\":%llu}", (unsigned long long)now_boot_ms());
	emit_line(line);
	return 0;
}

/* ------------------------------------------------------ by-hand mode */

static int open_file_channel(const char *path)
{
	int fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0 && isatty(fd)) {
		struct termios tio;
		if (tcgetattr(fd, &tio) == 0) {
			cfmakeraw(&tio);
			tcsetattr(fd, TCSANOW, &tio);
		}
	}
	return fd;
}

static int by_hand(int argc, char **argv)
{
	const char *key = "0000000000000000000000000000000000000000000000000000000000000000";
	int i = 1;
	for (; i + 1 < argc && argv[i][0] == '-' && argv[i][1] == '-'; i += 2) {
		if (!strcmp(argv[i], "--key"))
			key = argv[i + 1];
		else if (!strcmp(argv[i], "--nonce") && strlen(argv[i + 1]) == NONCE_HEX)
			snprintf(marker_nonce, sizeof(marker_nonce), "%s", argv[i + 1]);
		else
			break;
	}
	if (argc - i != 2) {
		fprintf(stderr, "usage: %s [--key <64 hex>] [--nonce <16 hex>] <plan> <result-file>\n"
				"       %s --serve <control-port>\n", argv[0], argv[0]);
		return 2;
	}
	int fd = open_file_channel(argv[i + 1]);
	if (fd < 0 || channel_open(fd, key) < 0) {
		fprintf(stderr, "kgrader-harness: cannot open result channel %s (or bad key)\n", argv[i + 1]);
		return 2;
	}
	static char text[PLAN_MAX_BYTES + 1];
	FILE *f = fopen(argv[i], "r");
	if (!f) {
		fprintf(stderr, "kgrader-harness: cannot open plan %s: %s\n", argv[i], strerror(errno));
		return 2;
	}
	size_t n = fread(text, 1, PLAN_MAX_BYTES, f);
	fclose(f);
	text[n] = 0;
	int rc = run_plan(text);
	fsync(fd);
	return rc;
}

/* --------------------------------------------------------- serve mode */

/*
 * Reads exactly n bytes from the control port. A virtio-serial port reads 0 while no host is
 * connected (for instance just after a snapshot was restored): wait for one.
 */
static int port_read_exact(int fd, void *buf, size_t n, int allow_wait_forever)
{
	unsigned char *p = buf;
	uint64_t idle_since = now_mono_ms();
	while (n) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0) {
			if (!allow_wait_forever && now_mono_ms() - idle_since > 10000)
				return -1;
			sleep_ms(10);
			continue;
		}
		p += r;
		n -= (size_t)r;
		idle_since = now_mono_ms();
	}
	return 0;
}

static int port_read_line(int fd, char *line, size_t cap)
{
	size_t n = 0;
	for (;;) {
		char ch;
		if (port_read_exact(fd, &ch, 1, n == 0) < 0)
			return -1;
		if (ch == '\n')
			break;
		if (n + 1 >= cap)
			return -1;
		line[n++] = ch;
	}
	line[n] = 0;
	return 0;
}

static void port_write_str(int fd, const char *s)
{
	size_t len = strlen(s);
	while (len) {
		ssize_t w = write(fd, s, len);
		if (w < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w <= 0)
			return;
		s += w;
		len -= (size_t)w;
	}
}

/* How many CPUs are online and how many actually ran a task pinned to them just now. */
static void check_cpus(int *online, int *ran)
{
	*online = (int)sysconf(_SC_NPROCESSORS_ONLN);
	*ran = 0;
	cpu_set_t all;
	if (sched_getaffinity(0, sizeof(all), &all) < 0)
		return;
	for (int cpu = 0; cpu < CPU_SETSIZE && cpu < 64; cpu++) {
		if (!CPU_ISSET(cpu, &all))
			continue;
		cpu_set_t one;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		if (sched_setaffinity(0, sizeof(one), &one) == 0 && sched_getcpu() == cpu)
			(*ran)++;
	}
	sched_setaffinity(0, sizeof(all), &all);
}

static int serve(const char *port)
{
	int fd = -1;
	for (int i = 0; i < 1000 && fd < 0; i++) {
		fd = open(port, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (fd < 0)
			sleep_ms(10);
	}
	if (fd < 0) {
		fprintf(stderr, "kgrader-harness: cannot open control port %s: %s\n", port, strerror(errno));
		return 2;
	}
	char line[512];
	for (;;) {
		if (port_read_line(fd, line, sizeof(line)) < 0) {
			fprintf(stderr, "kgrader-harness: control port: bad or no line\n");
			return 2;
		}
		if (!strcmp(line, "HELLO")) {
			int online, ran;
			char reply[256];
			struct utsname un;
			check_cpus(&online, &ran);
			uname(&un);
			snprintf(reply, sizeof(reply), "READY cpus=%d ran=%d kernel=%s uptime=%llu\n", online, ran,
				 un.release, (unsigned long long)now_boot_ms());
			port_write_str(fd, reply);
			continue;
		}
		/* WORK <key hex> <nonce hex> <plan bytes> <module bytes> */
		char key[2 * CHANNEL_KEY_BYTES + 2], nonce[NONCE_HEX + 2];
		unsigned long plan_len, module_len;
		if (sscanf(line, "WORK %65s %17s %lu %lu", key, nonce, &plan_len, &module_len) != 4 ||
		    strlen(key) != 2 * CHANNEL_KEY_BYTES || strlen(nonce) != NONCE_HEX ||
		    plan_len > PLAN_MAX_BYTES || module_len > MODULE_MAX_BYTES) {
			port_write_str(fd, "ERROR bad WORK line\n");
			continue;
		}
		static char plan_text[PLAN_MAX_BYTES + 1];
		unsigned char *module = malloc(module_len ? module_len : 1);
		if (!module || port_read_exact(fd, plan_text, plan_len, 0) < 0 ||
		    port_read_exact(fd, module, module_len, 0) < 0) {
			port_write_str(fd, "ERROR short WORK payload\n");
			return 2;
		}
		plan_text[plan_len] = 0;
		if (channel_open(fd, key) < 0) {
			port_write_str(fd, "ERROR bad key\n");
			return 2;
		}
		memset(key, 0, sizeof(key));
		memset(line, 0, sizeof(line));
		snprintf(marker_nonce, sizeof(marker_nonce), "%s", nonce);
		/* the module goes where the plan's module line says (a plain path in the initramfs) */
		static struct plan probe;
		char err[256];
		if (plan_parse_text(plan_text, &probe, err, sizeof(err)) == 0 && probe.module_path[0] == '/') {
			int mfd = open(probe.module_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
			if (mfd >= 0) {
				if (write(mfd, module, module_len) != (ssize_t)module_len)
					emit_log("cannot write the module to %s", probe.module_path);
				close(mfd);
			}
		}
		free(module);
		return run_plan(plan_text);
	}
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "--serve")) {
		in_vm = 1;
		return serve(argv[2]);
	}
	if (argc == 2 && !strcmp(argv[1], "--list-kinds")) {
		for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
			printf("%s\n", kinds[i].name);
		return 0;
	}
	return by_hand(argc, argv);
}
