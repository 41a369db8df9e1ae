/* Plan parsing: see PROTOCOL.md "Plan". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static int valid_value(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++) {
		char ch = *s;
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		      ch == '_' || ch == '.' || ch == '/' || ch == '-'))
			return 0;
	}
	return 1;
}

static int copy_tok(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);
	if (n >= cap)
		return -1;
	memcpy(dst, src, n + 1);
	return 0;
}

#define PERR(...)                                                                              \
	do {                                                                                   \
		int _o = snprintf(err, errlen, "plan line %d: ", lineno);                     \
		if (_o < 0 || (size_t)_o >= errlen)                                            \
			_o = 0;                                                                \
		snprintf(err + _o, errlen - (size_t)_o, __VA_ARGS__);                           \
		return -1;                                                                     \
	} while (0)

int plan_parse_text(const char *text, struct plan *plan, char *err, size_t errlen)
{
	memset(plan, 0, sizeof(*plan));
	int lineno = 0;
	int have_module = 0, have_device = 0;
	const char *p = text;

	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		char line[2048];
		lineno++;
		if (len >= sizeof(line))
			PERR("line too long");
		memcpy(line, p, len);
		line[len] = 0;
		p += len + (eol ? 1 : 0);
		if (len && line[len - 1] == '\r')
			line[--len] = 0;

		char *tok[3 + MAX_PARAMS + 1];
		int ntok = 0;
		char *save = NULL;
		for (char *t = strtok_r(line, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
			if (ntok == (int)(sizeof(tok) / sizeof(tok[0])))
				PERR("too many fields");
			tok[ntok++] = t;
		}
		if (ntok == 0 || tok[0][0] == '#')
			continue;

		if (!strcmp(tok[0], "module")) {
			if (ntok != 3)
				PERR("expected: module <path> <name>");
			if (have_module)
				PERR("duplicate module line");
			if (plan->ntests)
				PERR("module must come before the tests");
			if (!valid_value(tok[1]) || !valid_value(tok[2]))
				PERR("invalid characters in module line");
			if (copy_tok(plan->module_path, sizeof(plan->module_path), tok[1]) ||
			    copy_tok(plan->module_name, sizeof(plan->module_name), tok[2]))
				PERR("value too long");
			have_module = 1;
		} else if (!strcmp(tok[0], "device")) {
			if (ntok != 2)
				PERR("expected: device <path>|auto");
			if (have_device)
				PERR("duplicate device line");
			if (plan->ntests)
				PERR("device must come before the tests");
			if (!valid_value(tok[1]))
				PERR("invalid characters in device line");
			if (strcmp(tok[1], "auto")) { /* auto: no fixed device (empty), discover finds them */
				if (tok[1][0] != '/')
					PERR("device must be an absolute path or auto");
				if (copy_tok(plan->device, sizeof(plan->device), tok[1]))
					PERR("value too long");
			}
			have_device = 1;
		} else if (!strcmp(tok[0], "test")) {
			if (ntok < 3)
				PERR("expected: test <name> <kind> timeout=<s> [key=value ...]");
			if (plan->ntests == MAX_TESTS)
				PERR("too many tests (max %d)", MAX_TESTS);
			struct test *t = &plan->tests[plan->ntests];
			memset(t, 0, sizeof(*t));
			if (!valid_value(tok[1]) || !valid_value(tok[2]))
				PERR("invalid characters in test name or kind");
			for (int i = 0; i < plan->ntests; i++)
				if (!strcmp(plan->tests[i].name, tok[1]))
					PERR("duplicate test name %s", tok[1]);
			if (copy_tok(t->name, sizeof(t->name), tok[1]) ||
			    copy_tok(t->kind, sizeof(t->kind), tok[2]))
				PERR("value too long");
			t->timeout_s = DEFAULT_TIMEOUT_S;
			for (int i = 3; i < ntok; i++) {
				char *eq = strchr(tok[i], '=');
				if (!eq || eq == tok[i])
					PERR("expected key=value, got %s", tok[i]);
				*eq = 0;
				const char *k = tok[i], *v = eq + 1;
				if (!valid_value(k) || !valid_value(v))
					PERR("invalid characters in %s", k);
				if (!strcmp(k, "timeout")) {
					char *end;
					errno = 0;
					long s = strtol(v, &end, 10);
					if (*end || errno || s <= 0 || s > 3600)
						PERR("invalid timeout %s", v);
					t->timeout_s = (int)s;
					continue;
				}
				if (t->nparams == MAX_PARAMS)
					PERR("too many parameters");
				if (copy_tok(t->params[t->nparams].key, MAX_TOKEN, k) ||
				    copy_tok(t->params[t->nparams].value, MAX_TOKEN, v))
					PERR("value too long");
				t->nparams++;
			}
			plan->ntests++;
		} else {
			PERR("unknown directive %s", tok[0]);
		}
	}
	if (!have_module || !have_device) {
		snprintf(err, errlen, "plan: missing %s line", !have_module ? "module" : "device");
		return -1;
	}
	return 0;
}

long test_param_long(const struct test *t, const char *key, long def)
{
	for (int i = 0; i < t->nparams; i++) {
		if (strcmp(t->params[i].key, key))
			continue;
		char *end;
		errno = 0;
		long v = strtol(t->params[i].value, &end, 10);
		if (*end || errno)
			return def;
		return v;
	}
	return def;
}
