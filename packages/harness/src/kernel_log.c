/*
 * What the harness itself reads from the kernel log, so a module cannot hide its reports by
 * silencing the console (PROTOCOL.md "Kernel log"):
 * - kmsg forwarding: every record at level warning or more severe (and default-level lines,
 *   which is how stack dumps are stored) that the kernel logs after the plan started is sent to
 *   the host as an authenticated `kmsg` event, formatted like a console line;
 * - printk guard: the console log level, ignore_loglevel and the console list are recorded at
 *   the start and checked after every test; a change is reported (`tamper`) and undone;
 * - markers: `kgrader: <nonce> ...` lines, so a marker printed by the module does not count.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define KMSG_BATCH_BYTES 12288
#define KMSG_FORWARD_CAP (1024 * 1024)

static int kmsg_fd = -1;
static size_t forwarded_bytes;
static unsigned long dropped_records, lost_records;
static char batch[KMSG_BATCH_BYTES + 64];
static size_t batch_len;
static int batch_count;

void kmarker(const char *fmt, ...)
{
	char msg[900], buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	int n = snprintf(buf, sizeof(buf), "kgrader: %s %s", marker_nonce, msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	kmsg_raw(5, buf, (size_t)n);
}

void kmsg_forward_open(void)
{
	kmsg_fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (kmsg_fd >= 0)
		lseek(kmsg_fd, 0, SEEK_END); /* only what is logged from now on */
}

static void flush_batch(void)
{
	if (!batch_count && !dropped_records && !lost_records)
		return;
	static char ev[KMSG_BATCH_BYTES + 256];
	snprintf(ev, sizeof(ev), "{\"event\":\"kmsg\",\"lines\":[%.*s],\"dropped\":%lu,\"lost\":%lu}",
		 (int)batch_len, batch, dropped_records, lost_records);
	emit_line(ev);
	batch_len = 0;
	batch_count = 0;
	dropped_records = 0;
	lost_records = 0;
}

/*
 * One /dev/kmsg record: "<prio>,<seq>,<usec>,<flags>[,caller=T12];<text>\n[ KEY=VALUE\n]...".
 * Returns 1 and the console-style line when it is to be forwarded, 0 to skip it.
 */
int kmsg_record_line(const char *rec, size_t len, char *line, size_t cap)
{
	char head[128];
	const char *semi = memchr(rec, ';', len);
	if (!semi || (size_t)(semi - rec) >= sizeof(head))
		return 0;
	memcpy(head, rec, (size_t)(semi - rec));
	head[semi - rec] = 0;
	unsigned long prio = 0;
	unsigned long long seq = 0, usec = 0;
	char caller[16] = "";
	if (sscanf(head, "%lu,%llu,%llu", &prio, &seq, &usec) != 3)
		return 0;
	const char *cp = strstr(head, "caller=");
	if (cp)
		sscanf(cp + 7, "%15[A-Za-z0-9]", caller);
	if ((prio & 7) > 4)
		return 0; /* notice, info, debug: chatter, not reports */
	const char *text = semi + 1;
	const char *end = memchr(text, '\n', len - (size_t)(text - rec));
	size_t tlen = end ? (size_t)(end - text) : len - (size_t)(text - rec);
	int n;
	if (caller[0])
		n = snprintf(line, cap, "[%5llu.%06llu][%6s] %.*s", usec / 1000000, usec % 1000000, caller,
			     (int)tlen, text);
	else
		n = snprintf(line, cap, "[%5llu.%06llu] %.*s", usec / 1000000, usec % 1000000, (int)tlen, text);
	return n > 0;
}

void kmsg_forward_drain(int flush)
{
	if (kmsg_fd < 0)
		return;
	static char rec[8192], line[1200], esc[1200 * 6 + 8];
	for (int i = 0; i < 4096; i++) {
		ssize_t r = read(kmsg_fd, rec, sizeof(rec) - 1);
		if (r < 0) {
			if (errno == EPIPE) { /* overwritten before we read it */
				lost_records++;
				continue;
			}
			break; /* EAGAIN: nothing more for now */
		}
		if (r == 0)
			break;
		rec[r] = 0;
		if (!kmsg_record_line(rec, (size_t)r, line, sizeof(line)))
			continue;
		size_t elen = json_escape(esc, sizeof(esc), line, strlen(line));
		if (forwarded_bytes + elen > KMSG_FORWARD_CAP) {
			dropped_records++;
			continue;
		}
		if (batch_len + elen + 3 > KMSG_BATCH_BYTES)
			flush_batch();
		batch_len += (size_t)snprintf(batch + batch_len, sizeof(batch) - batch_len, "%s\"%s\"",
					      batch_count ? "," : "", esc);
		batch_count++;
		forwarded_bytes += elen;
	}
	if (flush)
		flush_batch();
}

/* ------------------------------------------------------------ printk guard */

struct guarded {
	const char *path;
	const char *what;
	int restore; /* write the recorded value back after a change */
	/* only a lower first number is a change (the console log level: the kernel itself raises it,
	 * console_verbose(), when lockdep or an oops reports; lowering it hides reports) */
	int first_number_may_rise;
	char value[256];
	int have;
};

static struct guarded guarded[] = {
	{ "/proc/sys/kernel/printk", "the console log level (/proc/sys/kernel/printk)", 1, 1, "", 0 },
	{ "/sys/module/printk/parameters/ignore_loglevel", "printk.ignore_loglevel", 1, 0, "", 0 },
	{ "/proc/sys/kernel/printk_devkmsg", "kernel.printk_devkmsg", 1, 0, "", 0 },
	{ "/proc/consoles", "the registered kernel consoles (/proc/consoles)", 0, 0, "", 0 },
};

static void normalize(char *s)
{
	/* /proc/sys/kernel/printk separates with tabs; compare the words only */
	char *w = s;
	int space = 0;
	for (char *r = s; *r; r++) {
		if (*r == ' ' || *r == '\t' || *r == '\n') {
			space = 1;
			continue;
		}
		if (space && w != s)
			*w++ = ' ';
		space = 0;
		*w++ = *r;
	}
	*w = 0;
}

void printk_guard_init(void)
{
	for (size_t i = 0; i < sizeof(guarded) / sizeof(guarded[0]); i++) {
		struct guarded *g = &guarded[i];
		g->have = read_file(g->path, g->value, sizeof(g->value)) >= 0;
		if (g->have)
			normalize(g->value);
	}
}

void printk_guard_check(void)
{
	for (size_t i = 0; i < sizeof(guarded) / sizeof(guarded[0]); i++) {
		struct guarded *g = &guarded[i];
		char now[256];
		if (!g->have)
			continue;
		if (read_file(g->path, now, sizeof(now)) < 0)
			snprintf(now, sizeof(now), "(unreadable: %s)", strerror(errno));
		normalize(now);
		if (!strcmp(now, g->value))
			continue;
		if (g->first_number_may_rise && atoi(now) >= atoi(g->value)) {
			snprintf(g->value, sizeof(g->value), "%s", now); /* the kernel's own, more verbose */
			continue;
		}
		char msg[900], esc[2048], ev[2300];
		int restored = g->restore && write_file(g->path, g->value) == 0;
		snprintf(msg, sizeof(msg), "%s changed from \"%s\" to \"%s\"%s", g->what, g->value, now,
			 restored ? "; kgrader set it back" : "");
		json_escape(esc, sizeof(esc), msg, strlen(msg));
		snprintf(ev, sizeof(ev), "{\"event\":\"tamper\",\"what\":\"%s\"}", esc);
		emit_line(ev);
		if (!restored) /* report a lasting change once */
			snprintf(g->value, sizeof(g->value), "%s", now);
	}
}

/* Events a test child may queue for the parent to send; anything else is dropped. */
int event_is_allowed_from_test(const char *json)
{
	static const char *const allowed[] = { "{\"event\":\"module\",", "{\"event\":\"devices\",",
					       "{\"event\":\"log\"," };
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (!strncmp(json, allowed[i], strlen(allowed[i])))
			return 1;
	return 0;
}
