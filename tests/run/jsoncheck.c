// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */

/*
 * Checks the output of `gpuvm run --json` on standard input: one flat JSON
 * object whose values are strings, numbers or booleans, holding every key
 * named on the command line. Prints the first problem and exits 1.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KEYS 128

static char buf[1 << 16];
static size_t len, at;
static char keys[MAX_KEYS][64];
static size_t nr_keys;

static void skip_ws(void)
{
	while (at < len && isspace((unsigned char)buf[at]))
		at++;
}

static bool parse_string(char *out, size_t cap)
{
	size_t n = 0;

	if (at >= len || buf[at] != '"')
		return false;
	for (at++; at < len && buf[at] != '"'; at++) {
		if (buf[at] == '\\' || (unsigned char)buf[at] < 0x20)
			return false;
		if (out && n + 1 < cap)
			out[n++] = buf[at];
	}
	if (at >= len)
		return false;
	at++;
	if (out)
		out[n] = '\0';
	return true;
}

static bool parse_value(void)
{
	char *end;

	if (at >= len)
		return false;
	if (buf[at] == '"')
		return parse_string(NULL, 0);
	if (!strncmp(buf + at, "true", 4)) {
		at += 4;
		return true;
	}
	if (!strncmp(buf + at, "false", 5)) {
		at += 5;
		return true;
	}
	if (buf[at] != '-' && !isdigit((unsigned char)buf[at]))
		return false;
	strtod(buf + at, &end);
	if (end == buf + at)
		return false;
	at = (size_t)(end - buf);
	return true;
}

static int fail(const char *what)
{
	fprintf(stderr, "jsoncheck: %s at byte %zu\n", what, at);
	return 1;
}

int main(int argc, char **argv)
{
	len = fread(buf, 1, sizeof(buf) - 1, stdin);
	skip_ws();
	if (at >= len || buf[at++] != '{')
		return fail("expected '{'");
	for (;;) {
		skip_ws();
		if (nr_keys == MAX_KEYS)
			return fail("too many keys");
		if (!parse_string(keys[nr_keys], sizeof(keys[0])))
			return fail("expected a key");
		for (size_t i = 0; i < nr_keys; i++)
			if (!strcmp(keys[i], keys[nr_keys]))
				return fail("duplicate key");
		nr_keys++;
		skip_ws();
		if (at >= len || buf[at++] != ':')
			return fail("expected ':'");
		skip_ws();
		if (!parse_value())
			return fail("bad value");
		skip_ws();
		if (at < len && buf[at] == ',') {
			at++;
			continue;
		}
		if (at < len && buf[at] == '}') {
			at++;
			break;
		}
		return fail("expected ',' or '}'");
	}
	skip_ws();
	if (at != len)
		return fail("trailing bytes");
	for (int a = 1; a < argc; a++) {
		size_t i;

		for (i = 0; i < nr_keys; i++)
			if (!strcmp(keys[i], argv[a]))
				break;
		if (i == nr_keys) {
			fprintf(stderr, "jsoncheck: missing key '%s'\n",
				argv[a]);
			return 1;
		}
	}
	return 0;
}
