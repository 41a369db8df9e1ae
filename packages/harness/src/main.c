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

static int chan = -1;

static void chan_write(const char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(chan, buf, len);
		if (w < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return;
		}
		buf += w;
		len -= (size_t)w;
	}
}

static void emit_line(const char *json)
{
	size_t n = strlen(json);
	char *line = malloc(n + 2);
	if (!line)
		return;
	memcpy(line, json, n);
	line[n] = '\n';
	chan_write(line, n + 1);
	free(line);
}

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
	{ "race_writers", t_race_writers, 0 },
	{ "race_open_close", t_race_open_close, 0 },
	{ "generic_stress", t_generic_stress, 0 },
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
	kmsg("kgrader: test %s start", t->name);
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
			close(chan);
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
				chan_write(sh->res.events + off, (size_t)(nl - (sh->res.events + off)) + 1);
				off = (size_t)(nl - sh->res.events) + 1;
			}
			sh->st.last_activity_ms = now_mono_ms();
		}
	}
	if (!sh->res.status_set)
		set_status(&c, "error");
	uint64_t dur = now_mono_ms() - t0;
	emit_test_end(t->name, sh->res.status, sh->res.output, sh->res.output_len, dur);
	kmsg("kgrader: test %s end %s", t->name, sh->res.status);
}

/* ----------------------------------------------------------------- main */

static int open_channel(const char *path)
{
	int fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC | O_CREAT, 0644);
	if (fd < 0)
		return -1;
	if (isatty(fd)) {
		struct termios tio;
		if (tcgetattr(fd, &tio) == 0) {
			cfmakeraw(&tio);
			cfsetospeed(&tio, B115200);
			tcsetattr(fd, TCSANOW, &tio);
		}
	} else {
		struct stat sb;
		if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode))
			if (ftruncate(fd, 0) < 0) { /* best effort */
			}
	}
	return fd;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s <plan> <result-channel>\n", argv[0]);
		return 2;
	}
	chan = open_channel(argv[2]);
	if (chan < 0) {
		fprintf(stderr, "kgrader-harness: cannot open result channel %s: %s\n", argv[2],
			strerror(errno));
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);

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
	if (plan_load(argv[1], &plan, err, sizeof(err)) < 0) {
		emit_log("plan error: %s", err);
		fprintf(stderr, "kgrader-harness: %s\n", err);
		snprintf(line, sizeof(line), "{\"event\":\"done\",\"uptimeMs\":%llu}",
			 (unsigned long long)now_boot_ms());
		emit_line(line);
		if (isatty(chan))
			tcdrain(chan);
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

	for (int i = 0; i < plan.ntests; i++)
		run_test(&plan, &plan.tests[i], sh);

	snprintf(line, sizeof(line), "{\"event\":\"done\",\"uptimeMs\":%llu}", (unsigned long long)now_boot_ms());
	emit_line(line);
	if (isatty(chan))
		tcdrain(chan);
	fsync(chan);
	return 0;
}
