/* kgrader-harness: shared declarations. See ../PROTOCOL.md for the contract. */
#ifndef KGRADER_HARNESS_H
#define KGRADER_HARNESS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/types.h>

#define MAX_TESTS 64
#define MAX_PARAMS 16
#define MAX_TOKEN 256
#define MAX_PATH_LEN 256
#define MAX_DEVICES 64
#define MAX_LISTING 1024
#define MAX_MAJORS 256
#define MAX_SECTIONS 64
#define OUTPUT_CAP 4096
#define EVENTS_CAP 16384
#define MSG_MAX 4096 /* msgbuf: largest message */
#define DEFAULT_TIMEOUT_S 20
#define CHANNEL_KEY_BYTES 32
#define NONCE_HEX 16
#define PLAN_MAX_BYTES (256 * 1024)
#define MODULE_MAX_BYTES (64 * 1024 * 1024)

/* ---------------------------------------------------------------- plan */

struct param {
	char key[MAX_TOKEN];
	char value[MAX_TOKEN];
};

struct test {
	char name[MAX_TOKEN];
	char kind[MAX_TOKEN];
	int timeout_s;
	int nparams;
	struct param params[MAX_PARAMS];
};

struct plan {
	char module_path[MAX_PATH_LEN];
	char module_name[MAX_TOKEN];
	char device[MAX_PATH_LEN]; /* fixed node, empty when "device auto" */
	int ntests;
	struct test tests[MAX_TESTS];
};

/* Parses a plan; on failure writes a message to err and returns -1. */
int plan_parse_text(const char *text, struct plan *plan, char *err, size_t errlen);
/* Integer parameter of a test, def when absent or malformed. */
long test_param_long(const struct test *t, const char *key, long def);

/* ---------------------------------------------------- shared run state */

struct node {
	char path[MAX_PATH_LEN];
	dev_t rdev;
};

struct section {
	char name[64];
	unsigned long long addr;
};

/* Lives in a MAP_SHARED mapping: written by test children, read by the parent. */
struct state {
	/* module */
	int module_loaded;       /* finit_module succeeded and not unloaded since */
	int module_load_failed;  /* the load test ran and failed */
	int module_unloaded;     /* a delete_module succeeded */
	int nsections;
	struct section sections[MAX_SECTIONS];
	unsigned long long core_size, init_size; /* /sys/module/<name>/{coresize,initsize} */
	/* /dev and /proc/devices before load */
	int have_before;
	int nbefore;
	struct node before[MAX_LISTING];
	int nmajors_before;
	int majors_before[MAX_MAJORS];
	/* discovered nodes */
	int ndevices;
	struct node devices[MAX_DEVICES];
	int nmknod; /* the first nmknod entries of mknod_paths were made by us */
	char mknod_paths[MAX_DEVICES][MAX_PATH_LEN];
	int new_majors[MAX_MAJORS];
	int nnew_majors;
	/* CLOCK_MONOTONIC ms when the last test that ran (not skipped) ended */
	uint64_t last_activity_ms;
};

/* Per-test result, also in the shared mapping. */
struct result {
	int status_set;
	char status[8];
	size_t output_len;
	int output_truncated;
	char output[OUTPUT_CAP + 1];
	size_t events_len;
	char events[EVENTS_CAP]; /* complete JSON lines the parent forwards after the test */
};

struct shared {
	struct state st;
	struct result res;
};

/* What a test function gets. */
struct ctx {
	const struct plan *plan;
	const struct test *test;
	struct state *st;
	struct result *res;
};

/* --------------------------------------------------------------- util */

uint64_t now_mono_ms(void);
uint64_t now_boot_ms(void);
void sleep_ms(unsigned ms);

void out(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void set_status(struct ctx *c, const char *status); /* first call wins over later "pass" */
void fail(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void error_(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends a hex + ASCII excerpt of buf[off, off+n) to the output. */
void out_hex(struct ctx *c, const unsigned char *buf, size_t len, size_t off, size_t n);

/* JSON string escaping into dst (always NUL-terminated); returns the length written. */
size_t json_escape(char *dst, size_t cap, const char *src, size_t srclen);
/* Queues an event line (built by the caller, without the newline) for the parent. */
void queue_event(struct ctx *c, const char *json);

void kmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void kmsg_raw(int level, const char *line, size_t len);

/* Reads at most cap-1 bytes of a (proc/sys) file into buf, NUL-terminated; -1 on error. */
ssize_t read_file(const char *path, char *buf, size_t cap);
/* Writes a string to a (proc/sys/debugfs) file; 0 or -errno. */
int write_file(const char *path, const char *s);
const char *errname(int e);

/*
 * KCSAN sampling for one test (test params kcsan_skip_watch, kcsan_udelay, on the KCSAN kernel):
 * a race test lasts seconds, so it watches far more accesses than the boot default; restored after.
 */
struct kcsan_tuning {
	char old[2][32];
	int set[2];
};
void kcsan_tune_begin(struct ctx *c, struct kcsan_tuning *t);
void kcsan_tune_end(struct ctx *c, struct kcsan_tuning *t);

/* Deterministic printable pattern for single-threaded tests. */
void fill_pattern(unsigned char *buf, size_t len, unsigned seed);

/* msgbuf device helpers (msgbuf_io.c). */
/* open+write+close; returns write()'s result, errno preserved on -1. open errors give -2. */
ssize_t dev_write_msg(const char *path, const void *buf, size_t len, int *err);
/* open+read-until-0+close into buf (cap bytes); returns total or -1 (errno in *err);
 * *calls: read() calls made; sets *overflow when the data exceeded cap (no end of message). */
ssize_t dev_read_msg(const char *path, unsigned char *buf, size_t cap, int *err, int *overflow);
/* Compares and describes the first difference; returns 0 when equal. */
int compare_msg(struct ctx *c, const char *what, const unsigned char *want, size_t wantlen,
		const unsigned char *got, size_t gotlen);

/* ------------------------------------------- stress threads (threads.c) */

void stress_start(void);         /* clears the stop flag */
int stress_running(void);        /* false once stress_stop_and_join began */
void stress_install_kick(void);  /* SIGUSR1 without SA_RESTART: blocking calls end with EINTR */
void stress_stop_and_join(pthread_t *th, int n);
uint64_t stress_rnd(uint64_t *s); /* xorshift64 */

/* --------------------------------------------- result channel (channel.c) */

struct sha256 {
	uint32_t h[8];
	uint64_t len;
	unsigned char buf[64];
	size_t fill;
};
void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t n);
void sha256_final(struct sha256 *s, unsigned char out[32]);
/* HMAC-SHA256 over msg1 || msg2 */
void hmac_sha256(const unsigned char *key, size_t keylen, const void *msg1, size_t len1,
		 const void *msg2, size_t len2, unsigned char out[32]);

int hex_decode(const char *hex, unsigned char *out, size_t n); /* exactly 2n hex digits */
void hex_encode(const unsigned char *in, size_t n, char *out);
/* Starts authenticating events on fd with the 64-hex-digit key; 0 or -1 (bad key). */
int channel_open(int fd, const char *key_hex);
int channel_fd(void);
/* Formats "<seq> <mac> <json>\n" into line; returns its length, 0 when cap is too small. */
size_t channel_format(uint64_t seq, const unsigned char *key, const char *json, char *line, size_t cap);
/* Sends one event (a JSON object without newline) with the next sequence number. */
void emit_line(const char *json);

/* ------------------------------------------------ kernel log (kernel_log.c) */

extern char marker_nonce[NONCE_HEX + 1];
/* "kgrader: <nonce> <message>" to /dev/kmsg */
void kmarker(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void kmsg_forward_open(void);
/* Sends the new warning-or-worse kernel records; flush: also a partly filled batch. */
void kmsg_forward_drain(int flush);
int kmsg_record_line(const char *rec, size_t len, char *line, size_t cap);
void printk_guard_init(void);
void printk_guard_check(void);
int event_is_allowed_from_test(const char *json);

/* ------------------------------------------------------------ tests */

typedef void (*test_fn)(struct ctx *c);

void t_load(struct ctx *c);
void t_discover(struct ctx *c);
void t_unload_busy(struct ctx *c);
void t_unload(struct ctx *c);
void t_kmemleak(struct ctx *c);
void t_empty_read(struct ctx *c);
void t_write_read(struct ctx *c);
void t_replace(struct ctx *c);
void t_max_size(struct ctx *c);
void t_read_offsets(struct ctx *c);
void t_open_resets_offset(struct ctx *c);
void t_alloc_failure(struct ctx *c);
void t_bad_buffers(struct ctx *c);
void t_offset_edges(struct ctx *c);
void t_race_writers(struct ctx *c);
void t_race_open_close(struct ctx *c);
void t_generic_stress(struct ctx *c);
void t_sweep_offsets(struct ctx *c);
void t_sweep_pointers(struct ctx *c);
void t_sweep_modes(struct ctx *c);
void t_sweep_ioctl(struct ctx *c);
void t_load_cycles(struct ctx *c);
void t_ticker_records(struct ctx *c);
void t_ticker_blocking(struct ctx *c);
void t_ticker_period(struct ctx *c);
void t_ticker_sequence(struct ctx *c);
void t_ticker_readers(struct ctx *c);
void t_ticker_race_ioctl(struct ctx *c);
void t_ticker_unload_blocked(struct ctx *c);

/* ------------------------------------------- ticker record checks (ticker_seq.c, pure) */

/* one record some reader got: its seq, and who (reader index; -1: the checking thread) */
struct tk_seen {
	uint64_t seq;
	int who;
};
struct tk_account {
	size_t n;                 /* records */
	uint64_t first, last;     /* lowest and highest seq */
	uint64_t missing;         /* seqs in [first, last] nobody got */
	uint64_t first_missing;
	uint64_t dups;            /* records whose seq someone else (or the same reader) got too */
	uint64_t first_dup;       /* preferably one two different readers got */
	int dup_who[2];
};
/* Sorts s by seq and counts what is missing and duplicated. */
void tk_account(struct tk_seen *s, size_t n, struct tk_account *a);
/* 0 when every missing seq is a drop and nothing was read twice; else -1 and a sentence in why. */
int tk_account_explain(const struct tk_account *a, uint64_t drops, char *why, size_t len);
/* Index of the first seq not above the one before it, -1 when strictly increasing. */
long tk_first_disorder(const uint64_t *seq, size_t n);
/* One record against the one the same reader got before it (prev_seq 0: none): 0 or -1 + why. */
int tk_record_problem(uint64_t seq, uint64_t ns, uint64_t prev_seq, uint64_t prev_ns, uint64_t now_ns,
		      char *why, size_t len);

/* Reads /sys/module/<name>/sections, coresize, initsize into the state and queues a `module` event. */
void module_read_sections(struct ctx *c);

/* kmemleak: forget everything allocated so far (harness start). Returns objects reported. */
int kmemleak_forget(void);

/* device path a single-device test should use: the fixed device, else the first discovered. */
const char *main_device(const struct ctx *c);

#endif
