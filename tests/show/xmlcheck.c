// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmlcheck.h"

/* Attributes of one element whose names are checked for repeats. */
#define MAX_ATTRS 64

struct span {
	const unsigned char *s;
	size_t len;
};

struct ctx {
	const unsigned char *start;
	const unsigned char *p;
	const unsigned char *end;
	struct xml_stats *stats;
	char *err;
	size_t errlen;
	struct span *stack;
	size_t depth;
	size_t cap;
};

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int
fail(struct ctx *c, const char *fmt, ...)
{
	const unsigned char *q;
	unsigned long line = 1;
	size_t n;
	va_list ap;

	for (q = c->start; q < c->p && q < c->end; q++)
		if (*q == '\n')
			line++;
	if (!c->errlen)
		return -1;
	n = (size_t)snprintf(c->err, c->errlen, "line %lu: ", line);
	if (n < c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err + n, c->errlen - n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static size_t left(const struct ctx *c)
{
	return (size_t)(c->end - c->p);
}

static bool at(const struct ctx *c, const char *s)
{
	size_t n = strlen(s);

	return left(c) >= n && memcmp(c->p, s, n) == 0;
}

static bool is_space(int ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* Bytes from 0x80 up are parts of non-ASCII characters, all allowed. */
static bool is_name_start(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       ch == '_' || ch == ':' || ch >= 0x80;
}

static bool is_name_char(int ch)
{
	return is_name_start(ch) || (ch >= '0' && ch <= '9') || ch == '-' ||
	       ch == '.';
}

static bool skip_space(struct ctx *c)
{
	const unsigned char *from = c->p;

	while (c->p < c->end && is_space(*c->p))
		c->p++;
	return c->p != from;
}

/* Every byte sequence must be UTF-8 for an XML character. */
static int check_encoding(struct ctx *c)
{
	const unsigned char *q = c->start;

	while (q < c->end) {
		size_t n = (size_t)(c->end - q), len, i;
		uint32_t cp;

		if (*q < 0x80) {
			if (*q < 0x20 && !is_space(*q)) {
				c->p = q;
				return fail(c, "control character 0x%02x", *q);
			}
			q++;
			continue;
		}
		if (*q >= 0xc2 && *q <= 0xdf) {
			len = 2;
			cp = *q & 0x1f;
		} else if (*q >= 0xe0 && *q <= 0xef) {
			len = 3;
			cp = *q & 0x0f;
		} else if (*q >= 0xf0 && *q <= 0xf4) {
			len = 4;
			cp = *q & 0x07;
		} else {
			len = 0;
			cp = 0;
		}
		for (i = 1; len && i < len; i++) {
			if (i >= n || (q[i] & 0xc0) != 0x80)
				len = 0;
			else
				cp = (cp << 6) | (q[i] & 0x3f);
		}
		if (!len || (len == 3 && cp < 0x800) ||
		    (len == 4 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff ||
		    cp == 0xfffe || cp == 0xffff) {
			c->p = q;
			return fail(c, "invalid UTF-8 or not an XML character");
		}
		q += len;
	}
	return 0;
}

static int name(struct ctx *c, struct span *out)
{
	if (c->p >= c->end || !is_name_start(*c->p))
		return fail(c, "expected a name");
	out->s = c->p;
	while (c->p < c->end && is_name_char(*c->p))
		c->p++;
	out->len = (size_t)(c->p - out->s);
	return 0;
}

static bool span_is(const struct span *sp, const char *s)
{
	return sp->len == strlen(s) && memcmp(sp->s, s, sp->len) == 0;
}

static void span_copy(char *dst, size_t size, const struct span *sp)
{
	size_t n = sp->len < size - 1 ? sp->len : size - 1;

	memcpy(dst, sp->s, n);
	dst[n] = '\0';
}

static void count(struct ctx *c, const char *prefix, const struct span *sp)
{
	struct xml_stats *st = c->stats;
	char key[64];
	size_t i, n = strlen(prefix);

	if (n + sp->len >= sizeof(key))
		return;
	memcpy(key, prefix, n);
	memcpy(key + n, sp->s, sp->len);
	key[n + sp->len] = '\0';
	for (i = 0; i < st->nr_counts; i++) {
		if (strcmp(st->counts[i].name, key) == 0) {
			st->counts[i].n++;
			return;
		}
	}
	if (st->nr_counts == XMLCHECK_MAX_COUNTS)
		return;
	memcpy(st->counts[i].name, key, n + sp->len + 1);
	st->counts[i].n = 1;
	st->nr_counts++;
}

/* At '&': one of the five predefined entities or a character reference. */
static int reference(struct ctx *c)
{
	static const char *const predefined[] = { "lt", "gt", "amp", "apos",
						  "quot" };
	struct span sp;
	size_t i;

	c->p++;
	if (c->p < c->end && *c->p == '#') {
		uint32_t v = 0;
		bool hex = false, digits = false;

		c->p++;
		if (c->p < c->end && *c->p == 'x') {
			hex = true;
			c->p++;
		}
		for (; c->p < c->end && *c->p != ';'; c->p++) {
			int ch = *c->p, d;

			if (ch >= '0' && ch <= '9')
				d = ch - '0';
			else if (hex && ch >= 'a' && ch <= 'f')
				d = ch - 'a' + 10;
			else if (hex && ch >= 'A' && ch <= 'F')
				d = ch - 'A' + 10;
			else
				return fail(c, "bad character reference");
			v = v * (hex ? 16 : 10) + (uint32_t)d;
			if (v > 0x10ffff)
				return fail(c, "character reference too large");
			digits = true;
		}
		if (!digits || c->p == c->end)
			return fail(c, "bad character reference");
		c->p++;
		if ((v < 0x20 && !is_space((int)v)) ||
		    (v >= 0xd800 && v <= 0xdfff) || v == 0xfffe || v == 0xffff)
			return fail(c, "reference to a non-character");
		return 0;
	}
	if (name(c, &sp))
		return fail(c, "bare '&'");
	if (c->p == c->end || *c->p != ';')
		return fail(c, "entity reference without ';'");
	c->p++;
	for (i = 0; i < sizeof(predefined) / sizeof(predefined[0]); i++)
		if (span_is(&sp, predefined[i]))
			return 0;
	return fail(c, "undeclared entity '%.*s'", (int)sp.len, sp.s);
}

/* After "<!--". */
static int comment(struct ctx *c)
{
	for (; c->p < c->end; c->p++) {
		if (at(c, "--")) {
			if (!at(c, "-->"))
				return fail(c, "'--' inside a comment");
			c->p += 3;
			return 0;
		}
	}
	return fail(c, "unterminated comment");
}

/* After "<?". Only the very start may hold the XML declaration. */
static int pi(struct ctx *c, const unsigned char *open)
{
	struct span target;

	if (name(c, &target))
		return -1;
	if (target.len == 3 && (target.s[0] | 0x20) == 'x' &&
	    (target.s[1] | 0x20) == 'm' && (target.s[2] | 0x20) == 'l' &&
	    open != c->start)
		return fail(c, "XML declaration not at the start");
	if (!at(c, "?>") && !skip_space(c))
		return fail(c, "expected a space after the target");
	for (; c->p < c->end; c->p++) {
		if (at(c, "?>")) {
			c->p += 2;
			return 0;
		}
	}
	return fail(c, "unterminated processing instruction");
}

static int literal(struct ctx *c)
{
	unsigned char q;

	if (c->p == c->end || (*c->p != '"' && *c->p != '\''))
		return fail(c, "expected a quoted literal");
	q = *c->p++;
	while (c->p < c->end && *c->p != q)
		c->p++;
	if (c->p == c->end)
		return fail(c, "unterminated literal");
	c->p++;
	return 0;
}

/* After "<!DOCTYPE". */
static int doctype(struct ctx *c)
{
	struct span sp;

	if (!skip_space(c) || name(c, &sp))
		return fail(c, "expected the root name in DOCTYPE");
	if (skip_space(c)) {
		if (at(c, "SYSTEM")) {
			c->p += 6;
			if (!skip_space(c) || literal(c))
				return fail(c, "bad SYSTEM identifier");
		} else if (at(c, "PUBLIC")) {
			c->p += 6;
			if (!skip_space(c) || literal(c) || !skip_space(c) ||
			    literal(c))
				return fail(c, "bad PUBLIC identifier");
		}
		skip_space(c);
	}
	if (c->p < c->end && *c->p == '[')
		return fail(c, "internal DTD subsets are not supported");
	if (c->p == c->end || *c->p != '>')
		return fail(c, "expected '>' to end DOCTYPE");
	c->p++;
	return 0;
}

static int attr_value(struct ctx *c, struct span *val)
{
	unsigned char q;

	if (c->p == c->end || (*c->p != '"' && *c->p != '\''))
		return fail(c, "attribute value not quoted");
	q = *c->p++;
	val->s = c->p;
	while (c->p < c->end && *c->p != q) {
		if (*c->p == '<')
			return fail(c, "'<' in an attribute value");
		if (*c->p == '&') {
			if (reference(c))
				return -1;
			continue;
		}
		c->p++;
	}
	if (c->p == c->end)
		return fail(c, "unterminated attribute value");
	val->len = (size_t)(c->p - val->s);
	c->p++;
	return 0;
}

/* After '<'; *empty tells whether it was "<name .../>". */
static int start_tag(struct ctx *c, bool root, bool *empty)
{
	struct span el, attrs[MAX_ATTRS];
	size_t nattrs = 0, i;

	if (name(c, &el))
		return -1;
	c->stats->elements++;
	count(c, "", &el);
	if (root)
		span_copy(c->stats->root, sizeof(c->stats->root), &el);
	for (;;) {
		struct span an, val = { NULL, 0 };
		bool space = skip_space(c);

		if (at(c, "/>")) {
			c->p += 2;
			*empty = true;
			break;
		}
		if (at(c, ">")) {
			c->p++;
			*empty = false;
			break;
		}
		if (c->p == c->end)
			return fail(c, "unterminated tag <%.*s>", (int)el.len,
				    el.s);
		if (!space)
			return fail(c, "expected a space before an attribute");
		if (name(c, &an))
			return -1;
		for (i = 0; i < nattrs; i++)
			if (attrs[i].len == an.len &&
			    memcmp(attrs[i].s, an.s, an.len) == 0)
				return fail(c, "repeated attribute '%.*s'",
					    (int)an.len, an.s);
		if (nattrs < MAX_ATTRS)
			attrs[nattrs++] = an;
		skip_space(c);
		if (c->p == c->end || *c->p != '=')
			return fail(c, "expected '=' after '%.*s'", (int)an.len,
				    an.s);
		c->p++;
		skip_space(c);
		if (attr_value(c, &val))
			return -1;
		if (span_is(&an, "class"))
			count(c, "class=", &val);
		if (root && span_is(&an, "xmlns"))
			span_copy(c->stats->root_xmlns,
				  sizeof(c->stats->root_xmlns), &val);
		if (root && span_is(&an, "version"))
			span_copy(c->stats->root_version,
				  sizeof(c->stats->root_version), &val);
	}
	if (*empty)
		return 0;
	if (c->depth == c->cap) {
		size_t n = c->cap ? c->cap * 2 : 16;
		struct span *s = realloc(c->stack, n * sizeof(*s));

		if (!s)
			return fail(c, "out of memory");
		c->stack = s;
		c->cap = n;
	}
	c->stack[c->depth++] = el;
	return 0;
}

/* After "</". */
static int end_tag(struct ctx *c)
{
	struct span el, *top = &c->stack[c->depth - 1];

	if (name(c, &el))
		return -1;
	if (el.len != top->len || memcmp(el.s, top->s, el.len) != 0)
		return fail(c, "</%.*s> closes <%.*s>", (int)el.len, el.s,
			    (int)top->len, top->s);
	skip_space(c);
	if (c->p == c->end || *c->p != '>')
		return fail(c, "expected '>' to end </%.*s>", (int)el.len,
			    el.s);
	c->p++;
	c->depth--;
	return 0;
}

/* Comments, processing instructions and spaces around the root. */
static int misc(struct ctx *c, bool before_root, bool *doctype_seen)
{
	for (;;) {
		const unsigned char *open;

		skip_space(c);
		open = c->p;
		if (at(c, "<!--")) {
			c->p += 4;
			if (comment(c))
				return -1;
		} else if (at(c, "<?")) {
			c->p += 2;
			if (pi(c, open))
				return -1;
		} else if (before_root && at(c, "<!DOCTYPE")) {
			if (*doctype_seen)
				return fail(c, "second DOCTYPE");
			*doctype_seen = true;
			c->p += 9;
			if (doctype(c))
				return -1;
		} else {
			return 0;
		}
	}
}

static int content(struct ctx *c)
{
	bool empty;

	while (c->depth) {
		if (c->p == c->end)
			return fail(c, "<%.*s> is not closed",
				    (int)c->stack[c->depth - 1].len,
				    c->stack[c->depth - 1].s);
		if (*c->p == '&') {
			if (reference(c))
				return -1;
		} else if (at(c, "]]>")) {
			return fail(c, "']]>' in text");
		} else if (*c->p != '<') {
			c->p++;
		} else if (at(c, "</")) {
			c->p += 2;
			if (end_tag(c))
				return -1;
		} else if (at(c, "<!--")) {
			c->p += 4;
			if (comment(c))
				return -1;
		} else if (at(c, "<![CDATA[")) {
			c->p += 9;
			while (c->p < c->end && !at(c, "]]>"))
				c->p++;
			if (c->p == c->end)
				return fail(c, "unterminated CDATA section");
			c->p += 3;
		} else if (at(c, "<?")) {
			const unsigned char *open = c->p;

			c->p += 2;
			if (pi(c, open))
				return -1;
		} else {
			c->p++;
			if (start_tag(c, false, &empty))
				return -1;
		}
	}
	return 0;
}

int xml_check(const char *doc, size_t len, struct xml_stats *stats, char *err,
	      size_t errlen)
{
	struct ctx c = {
		.start = (const unsigned char *)doc,
		.p = (const unsigned char *)doc,
		.end = (const unsigned char *)doc + len,
		.stats = stats,
		.err = err,
		.errlen = errlen,
	};
	bool doctype_seen = false, empty;
	int ret = -1;

	memset(stats, 0, sizeof(*stats));
	if (errlen)
		err[0] = '\0';
	if (check_encoding(&c))
		goto out;
	c.p = c.start;
	if (misc(&c, true, &doctype_seen))
		goto out;
	if (c.p == c.end || *c.p != '<') {
		fail(&c, "expected the root element");
		goto out;
	}
	c.p++;
	if (start_tag(&c, true, &empty) || content(&c) ||
	    misc(&c, false, &doctype_seen))
		goto out;
	if (c.p != c.end) {
		fail(&c, "content after the root element");
		goto out;
	}
	ret = 0;
out:
	free(c.stack);
	return ret;
}
