/*
 * ticker: the pure part of the record checks (host-testable, see test/c/harness_test.c). Given
 * every seq some reader got (and who got it), tell whether the gaps are exactly what the drop
 * counter says, and describe the first thing that is not.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static int seen_cmp(const void *a, const void *b)
{
	const struct tk_seen *x = a, *y = b;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return (x->who > y->who) - (x->who < y->who);
}

void tk_account(struct tk_seen *s, size_t n, struct tk_account *a)
{
	memset(a, 0, sizeof(*a));
	a->n = n;
	if (!n)
		return;
	qsort(s, n, sizeof(*s), seen_cmp);
	a->first = s[0].seq;
	a->last = s[n - 1].seq;
	for (size_t i = 1; i < n; i++) {
		if (s[i].seq == s[i - 1].seq) {
			/* the first one, or the first that two different readers got (the clearer story) */
			if (!a->dups || (a->dup_who[0] == a->dup_who[1] && s[i].who != s[i - 1].who)) {
				a->first_dup = s[i].seq;
				a->dup_who[0] = s[i - 1].who;
				a->dup_who[1] = s[i].who;
			}
			a->dups++;
		} else if (s[i].seq > s[i - 1].seq + 1) {
			if (!a->missing)
				a->first_missing = s[i - 1].seq + 1;
			a->missing += s[i].seq - s[i - 1].seq - 1;
		}
	}
}

static const char *who_name(int who, char *buf, size_t len)
{
	if (who < 0)
		snprintf(buf, len, "the checking thread");
	else
		snprintf(buf, len, "reader %d", who);
	return buf;
}

int tk_account_explain(const struct tk_account *a, uint64_t drops, char *why, size_t len)
{
	char w0[32], w1[32];
	if (!a->n) {
		snprintf(why, len, "no record was read");
		return -1;
	}
	if (a->dups) {
		snprintf(why, len,
			 "seq %" PRIu64 " was read twice (by %s and by %s); %" PRIu64 " duplicate(s) among %zu "
			 "records: seq gaps or duplicates the drop counter does not explain",
			 a->first_dup, who_name(a->dup_who[0], w0, sizeof(w0)),
			 who_name(a->dup_who[1], w1, sizeof(w1)), a->dups, a->n);
		return -1;
	}
	if (a->missing != drops) {
		int p = snprintf(why, len,
				 "seq %" PRIu64 "..%" PRIu64 ": %zu read, %" PRIu64 " missing", a->first,
				 a->last, a->n, a->missing);
		if (a->missing && p > 0 && (size_t)p < len)
			p += snprintf(why + p, len - (size_t)p, " (the first: seq %" PRIu64 ")",
				      a->first_missing);
		if (p > 0 && (size_t)p < len)
			snprintf(why + p, len - (size_t)p,
				 ", but the drop counter grew by %" PRIu64 ": seq gaps or duplicates the drop "
				 "counter does not explain", drops);
		return -1;
	}
	return 0;
}

long tk_first_disorder(const uint64_t *seq, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (seq[i] <= seq[i - 1])
			return (long)i;
	return -1;
}

int tk_record_problem(uint64_t seq, uint64_t ns, uint64_t prev_seq, uint64_t prev_ns, uint64_t now_ns,
		      char *why, size_t len)
{
	if (seq == 0) {
		snprintf(why, len, "a record has seq 0 (seq counts from 1)");
		return -1;
	}
	if (prev_seq && seq <= prev_seq) {
		snprintf(why, len, "seq %" PRIu64 " came after seq %" PRIu64 " (seq must strictly increase "
			 "for each reader)", seq, prev_seq);
		return -1;
	}
	if (ns == 0 || ns > now_ns) {
		snprintf(why, len, "seq %" PRIu64 " has ns %" PRIu64 ", not a ktime_get_ns() time before the "
			 "read returned (%" PRIu64 ")", seq, ns, now_ns);
		return -1;
	}
	if (prev_seq && ns < prev_ns) {
		snprintf(why, len, "seq %" PRIu64 " has an earlier time (%" PRIu64 " ns) than seq %" PRIu64
			 " before it (%" PRIu64 " ns)", seq, ns, prev_seq, prev_ns);
		return -1;
	}
	return 0;
}
