/*
 * The authenticated result channel (PROTOCOL.md "Result channel").
 *
 * Every event line is   <seq> <mac> <json>\n   where seq counts from 1 and
 * mac = lowercase hex HMAC-SHA256(key, "<seq> <json>"). The key is fresh per grading and comes
 * from the host before the student's module is loaded. It lives in a page that is locked in
 * memory and not inherited by fork(): the test children, in whose context the module's file
 * operations run, never have it mapped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"

static int chan_fd = -1;
static unsigned char *chan_key; /* CHANNEL_KEY_BYTES, MADV_DONTFORK */
static uint64_t chan_seq;

int hex_decode(const char *hex, unsigned char *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v = 0;
		for (int j = 0; j < 2; j++) {
			char ch = hex[2 * i + j];
			v <<= 4;
			if (ch >= '0' && ch <= '9')
				v |= (unsigned)(ch - '0');
			else if (ch >= 'a' && ch <= 'f')
				v |= (unsigned)(ch - 'a' + 10);
			else
				return -1;
		}
		out[i] = (unsigned char)v;
	}
	return hex[2 * n] == 0 ? 0 : -1;
}

void hex_encode(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = 0;
}

int channel_open(int fd, const char *key_hex)
{
	chan_key = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (chan_key == MAP_FAILED) {
		chan_key = NULL;
		return -1;
	}
	if (madvise(chan_key, 4096, MADV_DONTFORK) < 0 || mlock(chan_key, 4096) < 0) {
		/* still usable; only the defence in depth is lost */
	}
	if (hex_decode(key_hex, chan_key, CHANNEL_KEY_BYTES) < 0)
		return -1;
	chan_fd = fd;
	chan_seq = 0;
	return 0;
}

int channel_fd(void)
{
	return chan_fd;
}

void channel_write_raw(const char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(chan_fd, buf, len);
		if (w < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return;
		}
		buf += w;
		len -= (size_t)w;
	}
}

size_t channel_format(uint64_t seq, const unsigned char *key, const char *json, char *line, size_t cap)
{
	char prefix[32], mac_hex[65];
	unsigned char mac[32];
	int plen = snprintf(prefix, sizeof(prefix), "%llu ", (unsigned long long)seq);
	size_t n = strlen(json);
	hmac_sha256(key, CHANNEL_KEY_BYTES, prefix, (size_t)plen, json, n, mac);
	hex_encode(mac, 32, mac_hex);
	/* "<seq> <mac> <json>\n" */
	size_t need = (size_t)plen + 65 + n + 1;
	if (need + 1 > cap)
		return 0;
	memcpy(line, prefix, (size_t)plen);
	memcpy(line + plen, mac_hex, 64);
	line[plen + 64] = ' ';
	memcpy(line + plen + 65, json, n);
	line[need - 1] = '\n';
	line[need] = 0;
	return need;
}

void emit_line(const char *json)
{
	if (chan_fd < 0 || !chan_key)
		return;
	size_t cap = strlen(json) + 128;
	char *line = malloc(cap);
	if (!line)
		return;
	size_t n = channel_format(++chan_seq, chan_key, json, line, cap);
	if (n)
		channel_write_raw(line, n);
	free(line);
}
