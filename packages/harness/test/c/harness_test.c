/*
 * Host-side unit test of the harness's pure parts: SHA-256 and HMAC-SHA256 (FIPS 180-4 and
 * RFC 4231 vectors), the result-channel line format, /dev/kmsg record parsing, the plan parser
 * the filter on events a test child may queue, and the ticker record accounting (ticker_seq.c).
 * Built and run by test/c.test.ts.
 * Prints one line per failed check; exit status 0 when all pass.
 */
#include <stdio.h>
#include <string.h>

#include "../../src/harness.h"

char marker_nonce[NONCE_HEX + 1] = "0123456789abcdef";

static int failures, checks;

#define CHECK(cond, ...)                                                                       \
	do {                                                                                   \
		checks++;                                                                      \
		if (!(cond)) {                                                                 \
			failures++;                                                            \
			printf("FAIL %s:%d: ", __FILE__, __LINE__);                            \
			printf(__VA_ARGS__);                                                   \
			printf("\n");                                                          \
		}                                                                              \
	} while (0)

static void hex(const unsigned char *in, size_t n, char *out)
{
	hex_encode(in, n, out);
}

static void test_sha256(void)
{
	struct {
		const char *msg, *digest;
	} v[] = {
		{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct sha256 s;
		unsigned char d[32];
		char h[65];
		sha256_init(&s);
		sha256_update(&s, v[i].msg, strlen(v[i].msg));
		sha256_final(&s, d);
		hex(d, 32, h);
		CHECK(!strcmp(h, v[i].digest), "sha256(\"%s\") = %s", v[i].msg, h);
	}
	/* a million 'a', fed in odd-sized pieces across block boundaries */
	struct sha256 s;
	unsigned char d[32];
	char h[65], chunk[997];
	memset(chunk, 'a', sizeof(chunk));
	sha256_init(&s);
	size_t left = 1000000;
	while (left) {
		size_t n = left < sizeof(chunk) ? left : sizeof(chunk);
		sha256_update(&s, chunk, n);
		left -= n;
	}
	sha256_final(&s, d);
	hex(d, 32, h);
	CHECK(!strcmp(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"), "sha256(1e6 x a) = %s", h);
}

static void test_hmac(void)
{
	unsigned char key1[20], out[32], key6[131];
	char h[65];
	memset(key1, 0x0b, sizeof(key1));
	hmac_sha256(key1, sizeof(key1), "Hi ", 3, "There", 5, out); /* split message: msg1 || msg2 */
	hex(out, 32, h);
	CHECK(!strcmp(h, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"), "RFC 4231 case 1: %s", h);
	hmac_sha256((const unsigned char *)"Jefe", 4, "what do ya want for nothing?", 28, "", 0, out);
	hex(out, 32, h);
	CHECK(!strcmp(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"), "RFC 4231 case 2: %s", h);
	memset(key6, 0xaa, sizeof(key6)); /* a key longer than the block is hashed first */
	const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
	hmac_sha256(key6, sizeof(key6), m6, strlen(m6), "", 0, out);
	hex(out, 32, h);
	CHECK(!strcmp(h, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"), "RFC 4231 case 6: %s", h);
}

static void test_channel_format(void)
{
	unsigned char key[CHANNEL_KEY_BYTES];
	char line[512];
	CHECK(hex_decode("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", key, 32) == 0, "hex_decode");
	CHECK(hex_decode("zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", key, 32) < 0, "bad hex accepted");
	CHECK(hex_decode("0001", key, 32) < 0, "short hex accepted");
	hex_decode("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", key, 32);
	size_t n = channel_format(7, key, "{\"event\":\"done\",\"uptimeMs\":1}", line, sizeof(line));
	CHECK(n == strlen(line) && line[n - 1] == '\n', "line length and newline");
	CHECK(!strncmp(line, "7 ", 2) && line[66] == ' ', "'<seq> <64 hex> ' prefix: %s", line);
	unsigned char mac[32];
	char h[65];
	hmac_sha256(key, 32, "7 ", 2, "{\"event\":\"done\",\"uptimeMs\":1}", 29, mac);
	hex(mac, 32, h);
	CHECK(!strncmp(line + 2, h, 64), "mac covers '<seq> <json>'");
	CHECK(channel_format(7, key, "{\"event\":\"done\",\"uptimeMs\":1}", line, 40) == 0, "too small a buffer is refused");
}

static void test_kmsg_records(void)
{
	char line[256];
	const char *err = "3,1234,5000001,-,caller=T12;BUG: KASAN: slab-out-of-bounds in msgbuf_read+0x1/0x2\n";
	CHECK(kmsg_record_line(err, strlen(err), line, sizeof(line)) == 1, "error record forwarded");
	CHECK(!strcmp(line, "[    5.000001][   T12] BUG: KASAN: slab-out-of-bounds in msgbuf_read+0x1/0x2"), "console form: %s", line);
	const char *dflt = "4,9,12000000,c;  dump_stack_lvl+0x1/0x2\n SUBSYSTEM=x\n";
	CHECK(kmsg_record_line(dflt, strlen(dflt), line, sizeof(line)) == 1 && !strcmp(line, "[   12.000000]   dump_stack_lvl+0x1/0x2"),
	      "default level, no caller, dictionary dropped: %s", line);
	const char *info = "6,10,13000000,-,caller=T1;msgbuf: hello\n";
	CHECK(kmsg_record_line(info, strlen(info), line, sizeof(line)) == 0, "info records are not forwarded");
	const char *facility = "12,11,13000000,-;user warning\n"; /* facility 1 (user), level 4 */
	CHECK(kmsg_record_line(facility, strlen(facility), line, sizeof(line)) == 1, "level is the low 3 bits");
	CHECK(kmsg_record_line("garbage", 7, line, sizeof(line)) == 0, "garbage is skipped");
	CHECK(kmsg_record_line("x,y,z;msg", 9, line, sizeof(line)) == 0, "bad header is skipped");
}

static void test_plan(void)
{
	static struct plan p;
	char err[256];
	const char *ok = "# comment\nmodule /msgbuf.ko msgbuf\ndevice /dev/msgbuf\n"
			 "test load load timeout=30\ntest race race_writers timeout=45 threads=4 seconds=3\n";
	CHECK(plan_parse_text(ok, &p, err, sizeof(err)) == 0, "valid plan: %s", err);
	CHECK(p.ntests == 2 && p.tests[1].timeout_s == 45 && test_param_long(&p.tests[1], "threads", 1) == 4,
	      "tests and params parsed");
	CHECK(test_param_long(&p.tests[1], "absent", 9) == 9, "default for an absent param");
	const char *bad[] = {
		"device /dev/x\ntest load load\n",                       /* no module */
		"module /m.ko m\ntest load load\n",                       /* no device */
		"module /m.ko m\ndevice /dev/x\ntest a load\ntest a load\n", /* duplicate name */
		"module /m.ko m\ndevice /dev/x\ntest a load timeout=0\n",  /* bad timeout */
		"module /m.ko m\ndevice /dev/x\ntest a lo\"ad\n",           /* bad characters */
		"module /m.ko m\ndevice relative\n",                      /* device not absolute */
		"module /m.ko m\ndevice /dev/x\nrun everything\n",        /* unknown directive */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(plan_parse_text(bad[i], &p, err, sizeof(err)) < 0, "bad plan %zu accepted", i);
}

static void test_child_events(void)
{
	CHECK(event_is_allowed_from_test("{\"event\":\"module\",\"name\":\"m\",\"sections\":{}}"), "module");
	CHECK(event_is_allowed_from_test("{\"event\":\"devices\",\"paths\":[]}"), "devices");
	CHECK(event_is_allowed_from_test("{\"event\":\"log\",\"message\":\"x\"}"), "log");
	CHECK(!event_is_allowed_from_test("{\"event\":\"test_end\",\"name\":\"load\",\"status\":\"pass\"}"), "test_end refused");
	CHECK(!event_is_allowed_from_test("{\"event\":\"done\",\"uptimeMs\":1}"), "done refused");
	CHECK(!event_is_allowed_from_test(" {\"event\":\"log\"}"), "leading space refused");
}

/* ticker: every seq from first to last once, except exactly the drops */
static void test_ticker_accounting(void)
{
	struct tk_account a;
	char why[600];

	/* three readers share 1..10 in any order, 4 and 7 dropped: consistent with 2 drops */
	struct tk_seen ok[] = { { 5, 1 }, { 1, -1 }, { 2, 0 }, { 10, 2 }, { 3, 1 }, { 6, 0 }, { 8, 2 }, { 9, 0 } };
	tk_account(ok, 8, &a);
	CHECK(a.n == 8 && a.first == 1 && a.last == 10, "range %llu..%llu of %zu", (unsigned long long)a.first,
	      (unsigned long long)a.last, a.n);
	CHECK(a.missing == 2 && a.first_missing == 4 && a.dups == 0, "missing %llu (first %llu), dups %llu",
	      (unsigned long long)a.missing, (unsigned long long)a.first_missing, (unsigned long long)a.dups);
	CHECK(ok[0].seq == 1 && ok[7].seq == 10, "sorted by seq");
	CHECK(tk_account_explain(&a, 2, why, sizeof(why)) == 0, "2 drops explain 2 gaps: %s", why);
	/* the drop counter says 3 but only 2 are missing: a record was delivered and counted */
	CHECK(tk_account_explain(&a, 3, why, sizeof(why)) < 0, "3 drops for 2 gaps accepted");
	CHECK(strstr(why, "seq 1..10: 8 read, 2 missing (the first: seq 4), but the drop counter grew by 3") != NULL,
	      "message: %s", why);
	CHECK(strstr(why, "seq gaps or duplicates the drop counter does not explain") != NULL, "message: %s", why);
	/* no drop counted at all: the gaps are lost records */
	CHECK(tk_account_explain(&a, 0, why, sizeof(why)) < 0, "0 drops for 2 gaps accepted");

	/* a record that reached two readers is never explained by drops */
	struct tk_seen dup[] = { { 11, 0 }, { 12, 3 }, { 12, 1 }, { 13, 0 } };
	tk_account(dup, 4, &a);
	CHECK(a.dups == 1 && a.first_dup == 12 && a.missing == 0, "dups %llu at %llu",
	      (unsigned long long)a.dups, (unsigned long long)a.first_dup);
	CHECK(a.dup_who[0] == 1 && a.dup_who[1] == 3, "readers %d and %d", a.dup_who[0], a.dup_who[1]);
	CHECK(tk_account_explain(&a, 0, why, sizeof(why)) < 0 &&
	      strstr(why, "seq 12 was read twice (by reader 1 and by reader 3)") != NULL, "message: %s", why);

	/* a reader that got a record twice, and later two readers the same one: the message names the two */
	struct tk_seen both[] = { { 20, 2 }, { 20, 2 }, { 21, 0 }, { 22, 0 }, { 22, 4 } };
	tk_account(both, 5, &a);
	CHECK(a.dups == 2 && a.first_dup == 22 && a.dup_who[0] == 0 && a.dup_who[1] == 4, "dups %llu, first %llu by %d and %d",
	      (unsigned long long)a.dups, (unsigned long long)a.first_dup, a.dup_who[0], a.dup_who[1]);
	struct tk_seen same[] = { { 30, 1 }, { 30, 1 } };
	tk_account(same, 2, &a);
	CHECK(a.dups == 1 && a.first_dup == 30 && a.dup_who[0] == 1 && a.dup_who[1] == 1, "one reader twice");

	/* nothing read is a problem of its own; one record alone is consistent */
	tk_account(dup, 0, &a);
	CHECK(tk_account_explain(&a, 0, why, sizeof(why)) < 0, "no record accepted");
	struct tk_seen one[] = { { 7, -1 } };
	tk_account(one, 1, &a);
	CHECK(tk_account_explain(&a, 0, why, sizeof(why)) == 0 && a.first == 7 && a.last == 7, "one record: %s", why);
	/* huge seqs do not overflow the gap count */
	struct tk_seen far[] = { { 1, 0 }, { 0xffffffffffffff00ull, 0 } };
	tk_account(far, 2, &a);
	CHECK(a.missing == 0xfffffffffffffefeull, "missing %llu", (unsigned long long)a.missing);

	/* order per reader */
	uint64_t inc[] = { 1, 2, 5, 9 }, back[] = { 1, 3, 3, 4 }, down[] = { 8, 9, 2 };
	CHECK(tk_first_disorder(inc, 4) == -1, "increasing");
	CHECK(tk_first_disorder(back, 4) == 2, "repeat at 2");
	CHECK(tk_first_disorder(down, 3) == 2, "down at 2");
	CHECK(tk_first_disorder(inc, 0) == -1 && tk_first_disorder(inc, 1) == -1, "short");

	/* one record against the previous one of the same reader */
	CHECK(tk_record_problem(5, 1000, 4, 900, 2000, why, sizeof(why)) == 0, "good record: %s", why);
	CHECK(tk_record_problem(1, 1000, 0, 0, 2000, why, sizeof(why)) == 0, "first record: %s", why);
	CHECK(tk_record_problem(0, 1000, 0, 0, 2000, why, sizeof(why)) < 0 && strstr(why, "seq 0"), "seq 0: %s", why);
	CHECK(tk_record_problem(4, 1000, 4, 900, 2000, why, sizeof(why)) < 0 && strstr(why, "strictly increase"),
	      "same seq again: %s", why);
	CHECK(tk_record_problem(3, 1000, 4, 900, 2000, why, sizeof(why)) < 0, "seq going back accepted");
	CHECK(tk_record_problem(5, 3000, 4, 900, 2000, why, sizeof(why)) < 0 && strstr(why, "ktime_get_ns"),
	      "time after the read returned: %s", why);
	CHECK(tk_record_problem(5, 0, 4, 0, 2000, why, sizeof(why)) < 0, "ns 0 accepted");
	CHECK(tk_record_problem(5, 800, 4, 900, 2000, why, sizeof(why)) < 0 && strstr(why, "earlier time"),
	      "time going back: %s", why);
}

int main(void)
{
	test_sha256();
	test_hmac();
	test_channel_format();
	test_kmsg_records();
	test_plan();
	test_child_events();
	test_ticker_accounting();
	printf("%d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
