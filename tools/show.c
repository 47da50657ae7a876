// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gpuvm/gpuvm.h>

#include "replay.h"
#include "show.h"

#define WIDTH_DEFAULT 1200
#define WIDTH_MIN     600
#define WIDTH_MAX     20000

/* Geometry, in pixels. */
#define MARGIN	     24
#define TRACK_H	     44
#define STRIP_GAP    30
#define LEGEND_ROW_H 20

/* Objects listed by name in the legend; the rest are summed up. */
#define LEGEND_MAX 24
/* Characters of a name or title shown before it is cut short. */
#define NAME_SHOWN  28
#define TITLE_SHOWN 120

/* Below this many pixels per mapping, a strip draws bins instead. */
#define SPARSE_MIN_PX 2
/* Pixels per mapping aimed at in the densest-region strip. */
#define DETAIL_PX 8

/* The object index of a mapping without an object. */
#define NO_BO SIZE_MAX

/*
 * A qualitative palette without greys, which stand for sparse mappings and
 * the reserved region. An object's colour is picked by its declaration rank,
 * so it does not change with what else is mapped.
 */
static const char *const palette[] = {
	"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2",
	"#edc948", "#9c755f", "#ff9da7", "#6b6ecf", "#17becf", "#bcbd22",
};
static const char *const palette_edge[] = {
	"#2d4a66", "#9a5512", "#335e2c", "#99292b", "#6d4363", "#3f716d",
	"#9a7e16", "#5c4436", "#c2505f", "#3a3d8f", "#0e7480", "#6f7014",
};

#define NR_COLOURS (sizeof(palette) / sizeof(palette[0]))

#define COLOUR_HOLE	  "#f4f4f4"
#define COLOUR_TRACK_EDGE "#9a9a9a"
#define COLOUR_ZOOM	  "#d62728"
#define COLOUR_TEXT	  "#222222"
#define COLOUR_AXIS	  "#555555"

struct show_map {
	uint64_t addr;
	uint64_t end;
	uint64_t offset;
	size_t bo;
};

struct show_bo {
	char *name; /* NULL: no mapping uses this declaration rank */
	size_t nr_maps;
	uint64_t bytes;
	bool listed;
};

enum strip_kind {
	STRIP_OVERVIEW,
	STRIP_RANGE,
	STRIP_DENSEST,
	STRIP_EXTENT,
};

struct strip {
	enum strip_kind kind;
	uint64_t start;
	uint64_t end;
	/* maps[lo, hi) overlap [start, end). */
	size_t lo;
	size_t hi;
	bool aggregated;
	bool res_shown;
	/* The reserved band is too narrow to hold its label. */
	bool res_label_below;
	int top;
	int height;
};

struct show {
	const char *prog;
	FILE *out;
	unsigned int width;
	unsigned int pw; /* plot width */
	const char *title;
	bool have_range;
	uint64_t range_start;
	uint64_t range_end;

	uint64_t vm_start;
	uint64_t vm_end;
	uint64_t res_start;
	uint64_t res_end; /* == res_start: none */

	struct show_map *maps;
	size_t nr_maps;
	size_t maps_cap;
	struct show_bo *bos; /* indexed by declaration rank */
	size_t nr_bos;
	size_t nr_sparse;
	uint64_t sparse_bytes;
	uint64_t mapped;
};

/* ---- arithmetic ---- */

/*
 * floor(a * b / c) for a <= c, exactly, with a 128-bit intermediate built
 * by hand: C11 has no wider integer, and floating point would make the
 * picture depend on the platform's rounding.
 */
static uint64_t muldiv(uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t al = a & 0xffffffffu, ah = a >> 32;
	uint64_t bl = b & 0xffffffffu, bh = b >> 32;
	uint64_t p0 = al * bl, p1 = al * bh, p2 = ah * bl, p3 = ah * bh;
	uint64_t mid = (p0 >> 32) + (p1 & 0xffffffffu) + (p2 & 0xffffffffu);
	uint64_t lo = (p0 & 0xffffffffu) | (mid << 32);
	uint64_t hi = p3 + (p1 >> 32) + (p2 >> 32) + (mid >> 32);
	uint64_t q = 0;
	int i;

	/* a <= c makes the quotient fit in 64 bits, so hi < c. */
	for (i = 63; i >= 0; i--) {
		bool carry = hi >> 63;

		hi = (hi << 1) | ((lo >> i) & 1);
		q <<= 1;
		if (carry || hi >= c) {
			hi -= c;
			q |= 1;
		}
	}
	return q;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* Parses a number as the replay format writes them: decimal or 0x-hex. */
static bool parse_u64(const char *s, size_t len, uint64_t *value)
{
	unsigned int base = 10;
	uint64_t v = 0;
	size_t i = 0;

	if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		i = 2;
	}
	if (i == len)
		return false;
	for (; i < len; i++) {
		unsigned int d;
		char c = s[i];

		if (c >= '0' && c <= '9')
			d = (unsigned int)(c - '0');
		else if (base == 16 && c >= 'a' && c <= 'f')
			d = (unsigned int)(c - 'a' + 10);
		else if (base == 16 && c >= 'A' && c <= 'F')
			d = (unsigned int)(c - 'A' + 10);
		else
			return false;
		if (v > (UINT64_MAX - d) / base)
			return false;
		v = v * base + d;
	}
	*value = v;
	return true;
}

/* ---- text ---- */

struct size_text {
	char s[80];
};

/*
 * "0x1c000 (112 KiB)" with @hex, else "112 KiB": exact in hex, rounded
 * down to a tenth in words.
 */
static struct size_text fmt_size(uint64_t v, bool hex)
{
	static const char *const units[] = { "B",   "KiB", "MiB", "GiB",
					     "TiB", "PiB", "EiB" };
	struct size_text t;
	char words[48];
	uint64_t div = 1;
	unsigned int u = 0;

	while (u < 6 && v / div >= 1024) {
		div *= 1024;
		u++;
	}
	if (v % div == 0)
		snprintf(words, sizeof(words), "%" PRIu64 " %s", v / div,
			 units[u]);
	else
		snprintf(words, sizeof(words), "%" PRIu64 ".%" PRIu64 " %s",
			 v / div, (v % div) * 10 / div, units[u]);
	if (hex)
		snprintf(t.s, sizeof(t.s), "0x%" PRIx64 " (%s)", v, words);
	else
		snprintf(t.s, sizeof(t.s), "%s", words);
	return t;
}

/* Length of the UTF-8 sequence at @s (at most @n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates, past U+10FFFF, and the two
	 * non-characters XML forbids.
	 */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff || cp == 0xfffe ||
	    cp == 0xffff)
		return 0;
	return len;
}

/*
 * Writes @s as XML character data, at most @max characters of it (then
 * "..."). Bytes that are not valid UTF-8 or not XML characters become '?',
 * so that any command-line argument yields a well-formed document.
 */
static void put_text(FILE *f, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), shown = 0, len;

	while (n) {
		if (shown == max) {
			fputs("...", f);
			return;
		}
		len = utf8_len(p, n);
		if (len == 0) {
			fputc('?', f);
			len = 1;
		} else if (len > 1) {
			fwrite(p, 1, len, f);
		} else if (*p == '&') {
			fputs("&amp;", f);
		} else if (*p == '<') {
			fputs("&lt;", f);
		} else if (*p == '>') {
			fputs("&gt;", f);
		} else if (*p == '"') {
			fputs("&quot;", f);
		} else if (*p == '\'') {
			fputs("&apos;", f);
		} else if (*p < 0x20 || *p == 0x7f) {
			fputc(*p == '\t' || *p == '\n' ? ' ' : '?', f);
		} else {
			fputc(*p, f);
		}
		p += len;
		n -= len;
		shown++;
	}
}

/* An attribute holding a length in hundredths of a pixel. */
static void put_px(FILE *f, const char *name, uint64_t cp)
{
	if (cp % 100 == 0)
		fprintf(f, " %s=\"%" PRIu64 "\"", name, cp / 100);
	else if (cp % 10 == 0)
		fprintf(f, " %s=\"%" PRIu64 ".%" PRIu64 "\"", name, cp / 100,
			cp / 10 % 10);
	else
		fprintf(f, " %s=\"%" PRIu64 ".%02" PRIu64 "\"", name, cp / 100,
			cp % 100);
}

static const char *bo_name(const struct show *s, size_t bo)
{
	return bo == NO_BO ? "-" : s->bos[bo].name;
}

static const char *bo_fill(size_t bo)
{
	return bo == NO_BO ? "url(#sparse)" : palette[bo % NR_COLOURS];
}

static const char *bo_edge(size_t bo)
{
	return bo == NO_BO ? "#8a8a8a" : palette_edge[bo % NR_COLOURS];
}

/* ---- collecting the final state ---- */

static int add_bo(struct show *s, size_t index, const char *name)
{
	size_t n;

	if (index >= s->nr_bos) {
		struct show_bo *b;

		n = s->nr_bos ? s->nr_bos : 16;
		while (n <= index)
			n *= 2;
		b = realloc(s->bos, n * sizeof(*b));
		if (!b)
			return -ENOMEM;
		memset(b + s->nr_bos, 0, (n - s->nr_bos) * sizeof(*b));
		s->bos = b;
		s->nr_bos = n;
	}
	if (!s->bos[index].name) {
		n = strlen(name) + 1;
		s->bos[index].name = malloc(n);
		if (!s->bos[index].name)
			return -ENOMEM;
		memcpy(s->bos[index].name, name, n);
	}
	return 0;
}

static int add_map(struct show *s, const struct gpuva *va)
{
	struct show_map *m;
	size_t index = NO_BO;

	if (s->nr_maps == s->maps_cap) {
		size_t n = s->maps_cap ? s->maps_cap * 2 : 256;

		m = realloc(s->maps, n * sizeof(*m));
		if (!m)
			return -ENOMEM;
		s->maps = m;
		s->maps_cap = n;
	}
	if (va->gem.obj) {
		const char *name = replay_bo_name(va->gem.obj, &index);

		if (add_bo(s, index, name))
			return -ENOMEM;
		s->bos[index].nr_maps++;
		s->bos[index].bytes += va->va.range;
	} else {
		s->nr_sparse++;
		s->sparse_bytes += va->va.range;
	}
	m = &s->maps[s->nr_maps++];
	m->addr = va->va.addr;
	m->end = va->va.addr + va->va.range;
	m->offset = va->gem.offset;
	m->bo = index;
	s->mapped += va->va.range;
	return 0;
}

static int collect(struct gpuvm *vm, void *priv)
{
	struct show *s = priv;
	struct gpuvm_va_iter it;
	struct gpuva *va;

	s->vm_start = vm->mm_start;
	s->vm_end = vm->mm_start + vm->mm_range;
	s->res_start = vm->kernel_alloc_node.va.addr;
	s->res_end = s->res_start + vm->kernel_alloc_node.va.range;
	gpuvm_for_each_va(va, &it, vm) {
		if (gpuvm_va_is_reserved(vm, va))
			continue;
		if (add_map(s, va)) {
			fprintf(stderr, "%s: out of memory\n", s->prog);
			return REPLAY_EXIT_INTERNAL;
		}
	}
	return 0;
}

/* ---- strips ---- */

/* The first mapping that ends after @a. */
static size_t first_ending_after(const struct show *s, uint64_t a)
{
	size_t lo = 0, hi = s->nr_maps;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->maps[mid].end > a)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* The first mapping that starts at or after @a. */
static size_t first_starting_from(const struct show *s, uint64_t a)
{
	size_t lo = 0, hi = s->nr_maps;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->maps[mid].addr >= a)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* x of address @a in hundredths of a pixel; @a is clamped to the strip. */
static uint64_t strip_x(const struct show *s, const struct strip *st,
			uint64_t a)
{
	a = max_u64(min_u64(a, st->end), st->start);
	return MARGIN * 100u +
	       muldiv(a - st->start, s->pw * 100u, st->end - st->start);
}

static int track_top(const struct strip *st)
{
	return st->top + 22;
}

static int track_bottom(const struct strip *st)
{
	return track_top(st) + TRACK_H;
}

static void strip_init(const struct show *s, struct strip *st,
		       enum strip_kind kind, uint64_t start, uint64_t end)
{
	st->kind = kind;
	st->start = start;
	st->end = end;
	st->lo = first_ending_after(s, start);
	st->hi = first_starting_from(s, end);
	if (st->hi < st->lo)
		st->hi = st->lo;
	st->aggregated = (uint64_t)(st->hi - st->lo) * SPARSE_MIN_PX > s->pw;
	st->res_shown = s->res_start < s->res_end && s->res_start < end &&
			start < s->res_end;
	st->res_label_below = false;
	if (st->res_shown) {
		uint64_t w = strip_x(s, st, s->res_end) -
			     strip_x(s, st, s->res_start);

		st->res_label_below = w < 7000;
	}
	/* The track, the axis labels, a line for the reserved label below
	 * and one for the note on aggregation, when they are there.
	 */
	st->height = 22 + TRACK_H + 26;
	if (st->res_label_below)
		st->height += 16;
	if (st->aggregated)
		st->height += 20;
}

/*
 * The first of the @k consecutive mappings with the smallest extent: where
 * the overview lumps the most mappings into the fewest pixels. The first
 * such window wins, so the choice is stable.
 */
static size_t densest_window(const struct show *s, size_t k)
{
	uint64_t best = UINT64_MAX;
	size_t i, at = 0;

	for (i = 0; i + k <= s->nr_maps; i++) {
		uint64_t w = s->maps[i + k - 1].end - s->maps[i].addr;

		if (w < best) {
			best = w;
			at = i;
		}
	}
	return at;
}

/*
 * Whether one of maps[lo, hi) would be narrower than SPARSE_MIN_PX in a
 * strip showing [start, end).
 */
static bool has_thin(const struct show *s, size_t lo, size_t hi, uint64_t start,
		     uint64_t end)
{
	size_t i;

	for (i = lo; i < hi; i++) {
		const struct show_map *m = &s->maps[i];
		uint64_t a = max_u64(m->addr, start);
		uint64_t e = min_u64(m->end, end);

		if (e > a && muldiv(e - a, s->pw * 100u, end - start) <
				     SPARSE_MIN_PX * 100u)
			return true;
	}
	return false;
}

/*
 * Narrows maps[*lo, *hi) down to one cluster: as long as some mapping is
 * too thin to see at the scale of their extent and a single gap takes more
 * than half of it, keep the side of that gap with more mappings (the lower
 * one on a tie).
 */
static void narrow_cluster(const struct show *s, size_t *lo, size_t *hi)
{
	for (;;) {
		uint64_t start = s->maps[*lo].addr, end = s->maps[*hi - 1].end;
		uint64_t gap = 0;
		size_t i, at = *lo;

		if (*hi - *lo < 2 || !has_thin(s, *lo, *hi, start, end))
			return;
		for (i = *lo + 1; i < *hi; i++) {
			uint64_t g = s->maps[i].addr - s->maps[i - 1].end;

			if (g > gap) {
				gap = g;
				at = i;
			}
		}
		if (gap <= (end - start) / 2)
			return;
		if (at - *lo >= *hi - at)
			*hi = at;
		else
			*lo = at;
	}
}

/*
 * Picks the detail strip; false if the overview says it all. Too many
 * mappings for the overview: the densest DETAIL_PX-pixel-per-mapping
 * window. Mappings too thin to see: the cluster that holds them.
 */
static bool plan_detail(const struct show *s, const struct strip *ov,
			struct strip *det)
{
	enum strip_kind kind;
	size_t lo, hi, k;
	uint64_t start, end;

	if (s->have_range) {
		strip_init(s, det, STRIP_RANGE, s->range_start, s->range_end);
		return true;
	}
	if (!s->nr_maps)
		return false;
	if (ov->aggregated) {
		k = s->pw / DETAIL_PX;
		if (k > s->nr_maps)
			k = s->nr_maps;
		lo = densest_window(s, k);
		hi = lo + k;
	} else {
		if (!has_thin(s, 0, s->nr_maps, ov->start, ov->end))
			return false;
		lo = 0;
		hi = s->nr_maps;
	}
	narrow_cluster(s, &lo, &hi);
	start = s->maps[lo].addr;
	end = s->maps[hi - 1].end;
	if (!ov->aggregated && end - start > (ov->end - ov->start) / 2)
		return false;
	kind = lo == 0 && hi == s->nr_maps ? STRIP_EXTENT : STRIP_DENSEST;
	strip_init(s, det, kind, start, end);
	return true;
}

/* ---- drawing ---- */

static void draw_defs(FILE *f)
{
	fputs("<defs>\n"
	      "<pattern id=\"sparse\" patternUnits=\"userSpaceOnUse\" "
	      "width=\"6\" height=\"6\" patternTransform=\"rotate(45)\">\n"
	      "<rect width=\"6\" height=\"6\" fill=\"#d4d4d4\"/>\n"
	      "<rect width=\"2\" height=\"6\" fill=\"#9a9a9a\"/>\n"
	      "</pattern>\n"
	      "<pattern id=\"reserved\" patternUnits=\"userSpaceOnUse\" "
	      "width=\"8\" height=\"8\" patternTransform=\"rotate(-45)\">\n"
	      "<rect width=\"8\" height=\"8\" fill=\"#333333\"/>\n"
	      "<rect width=\"3\" height=\"8\" fill=\"#5e5e5e\"/>\n"
	      "</pattern>\n"
	      "</defs>\n",
	      f);
}

static void draw_sparse(const struct show *s, const struct strip *st)
{
	uint64_t right = (MARGIN + s->pw) * 100u;
	FILE *f = s->out;
	size_t i;

	for (i = st->lo; i < st->hi; i++) {
		const struct show_map *m = &s->maps[i];
		uint64_t x1 = strip_x(s, st, m->addr);
		uint64_t x2 = strip_x(s, st, m->end);

		/* Every mapping stays visible, however small. */
		if (x2 - x1 < 100) {
			x2 = x1 + 100;
			if (x2 > right) {
				x2 = right;
				x1 = right - 100;
			}
		}
		fputs("<rect class=\"map\"", f);
		put_px(f, "x", x1);
		fprintf(f, " y=\"%d\"", track_top(st));
		put_px(f, "width", x2 - x1);
		fprintf(f, " height=\"%d\" fill=\"%s\"", TRACK_H,
			bo_fill(m->bo));
		/* An outline only where it leaves some colour inside. */
		if (x2 - x1 >= 400)
			fprintf(f, " stroke=\"%s\" stroke-width=\"1\"",
				bo_edge(m->bo));
		fprintf(f, "><title>0x%" PRIx64 "+0x%" PRIx64 " ", m->addr,
			m->end - m->addr);
		put_text(f, bo_name(s, m->bo), SIZE_MAX);
		fprintf(f, "@0x%" PRIx64 "%s</title></rect>\n", m->offset,
			m->bo == NO_BO ? " (sparse)" : "");
	}
}

struct bin_run {
	bool open;
	size_t key;
	uint64_t h;
	uint64_t x;
	uint64_t addr;
	uint64_t covered;
};

static void flush_run(const struct show *s, const struct strip *st,
		      struct bin_run *run, uint64_t x_end, uint64_t addr_end)
{
	FILE *f = s->out;
	size_t n;

	if (!run->open || run->h == 0) {
		run->open = false;
		return;
	}
	run->open = false;
	n = first_starting_from(s, addr_end) - first_ending_after(s, run->addr);
	fputs("<rect class=\"bin\"", f);
	put_px(f, "x", run->x);
	fprintf(f, " y=\"%" PRIu64 "\"", (uint64_t)track_bottom(st) - run->h);
	put_px(f, "width", x_end - run->x);
	fprintf(f, " height=\"%" PRIu64 "\" fill=\"%s\">", run->h,
		bo_fill(run->key));
	fprintf(f,
		"<title>0x%" PRIx64 "-0x%" PRIx64 ": %zu mapping%s, %" PRIu64
		"%% mapped, mostly ",
		run->addr, addr_end, n, n == 1 ? "" : "s",
		muldiv(run->covered, 100, addr_end - run->addr));
	put_text(f, bo_name(s, run->key), SIZE_MAX);
	fputs("</title></rect>\n", f);
}

/*
 * One bin per pixel column (fewer when the range has fewer addresses than
 * the strip has pixels). A bin shows the object that covers most of it, as
 * tall as the share of it that is mapped; runs of equal bins are merged
 * into one rectangle.
 */
static int draw_bins(const struct show *s, const struct strip *st,
		     size_t *nr_bins)
{
	uint64_t span = st->end - st->start;
	uint64_t nbins = min_u64(s->pw, span);
	size_t nkeys = s->nr_bos + 1, ntouched, t;
	struct bin_run run = { .open = false };
	uint64_t *acc;
	size_t *touched;
	size_t j = st->lo;
	uint64_t i;

	acc = calloc(nkeys, sizeof(*acc));
	touched = calloc(nkeys, sizeof(*touched));
	if (!acc || !touched) {
		free(acc);
		free(touched);
		return -ENOMEM;
	}
	for (i = 0; i < nbins; i++) {
		uint64_t a0 = st->start + muldiv(i, span, nbins);
		uint64_t a1 = st->start + muldiv(i + 1, span, nbins);
		uint64_t x0 = MARGIN * 100u + muldiv(i, s->pw * 100u, nbins);
		uint64_t covered = 0, best = 0, h;
		size_t k = j, key = 0, best_key = NO_BO;

		ntouched = 0;
		while (k < st->hi && s->maps[k].addr < a1) {
			const struct show_map *m = &s->maps[k];
			uint64_t part =
				min_u64(m->end, a1) - max_u64(m->addr, a0);

			key = m->bo == NO_BO ? nkeys - 1 : m->bo;
			if (!acc[key])
				touched[ntouched++] = key;
			acc[key] += part;
			covered += part;
			/* A mapping that goes on is seen again next bin. */
			if (m->end > a1)
				break;
			j = ++k;
		}
		for (t = 0; t < ntouched; t++) {
			key = touched[t];
			if (acc[key] > best ||
			    (acc[key] == best && key < best_key)) {
				best = acc[key];
				best_key = key;
			}
			acc[key] = 0;
		}
		if (best_key == nkeys - 1)
			best_key = NO_BO;
		/* Rounded to the nearest pixel, but never to nothing. */
		h = (muldiv(covered, 2 * TRACK_H, a1 - a0) + 1) / 2;
		if (covered && !h)
			h = 1;
		if (run.open && (run.h != h || (h && run.key != best_key)))
			flush_run(s, st, &run, x0, a0);
		if (!run.open) {
			run.open = true;
			run.key = best_key;
			run.h = h;
			run.x = x0;
			run.addr = a0;
			run.covered = 0;
		}
		run.covered += covered;
	}
	flush_run(s, st, &run, (MARGIN + s->pw) * 100u, st->end);
	free(acc);
	free(touched);
	*nr_bins = (size_t)nbins;
	return 0;
}

static void draw_reserved(const struct show *s, const struct strip *st)
{
	uint64_t x1 = strip_x(s, st, s->res_start);
	uint64_t x2 = strip_x(s, st, s->res_end);
	uint64_t right = (MARGIN + s->pw) * 100u;
	FILE *f = s->out;

	if (!st->res_shown)
		return;
	if (x2 - x1 < 200) {
		x2 = min_u64(x1 + 200, right);
		x1 = x2 - 200;
	}
	fputs("<rect class=\"reserved\"", f);
	put_px(f, "x", x1);
	fprintf(f, " y=\"%d\"", track_top(st) - 4);
	put_px(f, "width", x2 - x1);
	fprintf(f,
		" height=\"%d\" fill=\"url(#reserved)\" stroke=\"#111111\" "
		"stroke-width=\"1\"><title>reserved 0x%" PRIx64 "+0x%" PRIx64
		"</title></rect>\n",
		TRACK_H + 8, s->res_start, s->res_end - s->res_start);
	if (!st->res_label_below) {
		fputs("<text class=\"reserved-label\"", f);
		put_px(f, "x", (x1 + x2) / 2);
		fprintf(f,
			" y=\"%d\" text-anchor=\"middle\" fill=\"#ffffff\" "
			"font-weight=\"bold\">reserved</text>\n",
			track_top(st) + TRACK_H / 2 + 4);
		return;
	}
	/* A pointer from under the axis, anchored to stay in the picture. */
	fputs("<line", f);
	put_px(f, "x1", (x1 + x2) / 2);
	fprintf(f, " y1=\"%d\"", track_bottom(st) + 22);
	put_px(f, "x2", (x1 + x2) / 2);
	fprintf(f, " y2=\"%d\" stroke=\"#111111\" stroke-width=\"1\"/>\n",
		track_bottom(st) + 31);
	fputs("<text class=\"reserved-label\"", f);
	put_px(f, "x", (x1 + x2) / 2);
	fprintf(f,
		" y=\"%d\" text-anchor=\"%s\" fill=\"#111111\">reserved"
		"</text>\n",
		track_bottom(st) + 42,
		(x1 + x2) / 2 < (MARGIN + s->pw / 2) * 100u ? "start" : "end");
}

/*
 * Ticks at multiples of a power of two (round numbers in hex), spaced so
 * that the longest label fits between them; a label that would run into
 * the previous one is left out.
 */
static void draw_axis(const struct show *s, const struct strip *st)
{
	uint64_t span = st->end - st->start, step = 1, need, t;
	uint64_t last_right = 0, max_ticks, spacing;
	char label[24];
	FILE *f = s->out;
	int y = track_bottom(st);
	unsigned int drawn = 0;

	spacing = (uint64_t)snprintf(label, sizeof(label), "0x%" PRIx64,
				     st->end) *
			  10 +
		  16;
	max_ticks = s->pw / spacing;
	if (!max_ticks)
		max_ticks = 1;
	need = span / max_ticks + (span % max_ticks != 0);
	while (step < need && step < (UINT64_C(1) << 63))
		step <<= 1;
	t = st->start % step ? st->start - st->start % step : st->start;
	if (t < st->start) {
		if (t > UINT64_MAX - step)
			return;
		t += step;
	}
	for (;;) {
		uint64_t x = strip_x(s, st, t), w, left, right;
		const char *anchor = "middle";
		int len;

		if (t > st->end)
			break;
		fputs("<line class=\"tick\"", f);
		put_px(f, "x1", x);
		fprintf(f, " y1=\"%d\"", y);
		put_px(f, "x2", x);
		fprintf(f, " y2=\"%d\" stroke=\"%s\" stroke-width=\"1\"/>\n",
			y + 5, COLOUR_AXIS);
		len = snprintf(label, sizeof(label), "0x%" PRIx64, t);
		/* Monospace at 11 px: about 6.6 px a character. */
		w = (uint64_t)len * 660;
		left = x >= w / 2 ? x - w / 2 : 0;
		right = x + w / 2;
		if (left < 200) {
			anchor = "start";
			left = x;
			right = x + w;
		} else if (right > (s->width - 2) * 100u) {
			anchor = "end";
			left = x - w;
			right = x;
		}
		if (!drawn || left >= last_right + 800) {
			fputs("<text class=\"tick-label\"", f);
			put_px(f, "x", x);
			fprintf(f,
				" y=\"%d\" text-anchor=\"%s\" "
				"font-family=\"monospace\" font-size=\"11\" "
				"fill=\"%s\">%s</text>\n",
				y + 18, anchor, COLOUR_AXIS, label);
			last_right = right;
			drawn++;
		}
		if (st->end - t < step)
			break;
		t += step;
	}
}

static void draw_strip(const struct show *s, const struct strip *st,
		       size_t *nr_bins, int *err)
{
	uint64_t span = st->end - st->start;
	size_t n = st->hi - st->lo;
	FILE *f = s->out;

	fprintf(f, "<g class=\"%s\">\n",
		st->kind == STRIP_OVERVIEW ? "overview" : "detail");
	fprintf(f, "<text x=\"%d\" y=\"%d\" fill=\"%s\">", MARGIN, st->top + 14,
		COLOUR_TEXT);
	switch (st->kind) {
	case STRIP_OVERVIEW:
		fputs("VA space", f);
		break;
	case STRIP_RANGE:
		fputs("range", f);
		break;
	case STRIP_DENSEST:
		fputs("densest region", f);
		break;
	case STRIP_EXTENT:
		fputs("all mappings", f);
		break;
	}
	fprintf(f, " 0x%" PRIx64 "-0x%" PRIx64 " (%s): %zu mapping%s</text>\n",
		st->start, st->end, fmt_size(span, false).s, n,
		n == 1 ? "" : "s");
	fprintf(f,
		"<rect class=\"track\" x=\"%d\" y=\"%d\" width=\"%u\" "
		"height=\"%d\" fill=\"%s\" stroke=\"%s\" "
		"stroke-width=\"1\"/>\n",
		MARGIN, track_top(st), s->pw, TRACK_H, COLOUR_HOLE,
		COLOUR_TRACK_EDGE);
	*nr_bins = 0;
	if (st->aggregated) {
		if (draw_bins(s, st, nr_bins))
			*err = -ENOMEM;
	} else {
		draw_sparse(s, st);
	}
	draw_reserved(s, st);
	draw_axis(s, st);
	if (st->aggregated)
		fprintf(f,
			"<text class=\"note\" x=\"%d\" y=\"%d\" "
			"font-size=\"11\" fill=\"%s\">aggregated: %zu "
			"mappings in %zu bins (colour: the object covering "
			"most of a bin; height: the share of it mapped)"
			"</text>\n",
			MARGIN, st->top + st->height - 8, COLOUR_AXIS, n,
			*nr_bins);
	fputs("</g>\n", f);
}

/* The frame in the overview and the lines that lead to the detail strip. */
static void draw_zoom(const struct show *s, const struct strip *ov,
		      const struct strip *det)
{
	uint64_t x1 = strip_x(s, ov, det->start);
	uint64_t x2 = strip_x(s, ov, det->end);
	uint64_t right = (MARGIN + s->pw) * 100u;
	FILE *f = s->out;

	if (x2 - x1 < 300) {
		x2 = min_u64(x1 + 300, right);
		x1 = x2 - 300;
	}
	fputs("<g class=\"zoom\" fill=\"none\" stroke=\"" COLOUR_ZOOM "\">\n",
	      f);
	fputs("<line", f);
	put_px(f, "x1", x1);
	fprintf(f, " y1=\"%d\"", track_bottom(ov) + 4);
	fprintf(f, " x2=\"%d\" y2=\"%d\"", MARGIN, det->top + 2);
	fputs(" stroke-width=\"1\" stroke-dasharray=\"4,3\"/>\n", f);
	fputs("<line", f);
	put_px(f, "x1", x2);
	fprintf(f, " y1=\"%d\"", track_bottom(ov) + 4);
	fprintf(f, " x2=\"%u\" y2=\"%d\"", MARGIN + s->pw, det->top + 2);
	fputs(" stroke-width=\"1\" stroke-dasharray=\"4,3\"/>\n", f);
	fputs("<rect", f);
	put_px(f, "x", x1);
	fprintf(f, " y=\"%d\"", track_top(ov) - 6);
	put_px(f, "width", x2 - x1);
	fprintf(f, " height=\"%d\" stroke-width=\"2\"/>\n", TRACK_H + 12);
	fputs("</g>\n", f);
}

/* ---- summary and legend ---- */

static uint64_t largest_hole(const struct show *s, uint64_t *at)
{
	uint64_t best = 0, prev = s->vm_start;
	size_t i;

	*at = s->vm_start;
	for (i = 0; i <= s->nr_maps; i++) {
		uint64_t next = i < s->nr_maps ? s->maps[i].addr : s->vm_end;
		uint64_t pieces[2][2] = { { prev, next }, { next, next } };
		int p;

		/* The reserved region is not a hole: cut it out. */
		if (s->res_start < s->res_end && s->res_start < next &&
		    prev < s->res_end) {
			pieces[0][1] = max_u64(prev, s->res_start);
			pieces[1][0] = min_u64(next, s->res_end);
		}
		for (p = 0; p < 2; p++) {
			if (pieces[p][1] - pieces[p][0] > best) {
				best = pieces[p][1] - pieces[p][0];
				*at = pieces[p][0];
			}
		}
		if (i < s->nr_maps)
			prev = s->maps[i].end;
	}
	return best;
}

struct bo_rank {
	uint64_t bytes;
	size_t index;
};

/* Most bytes first; the earlier declaration first among equals. */
static int cmp_bo_rank(const void *a, const void *b)
{
	const struct bo_rank *x = a, *y = b;

	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/*
 * Marks the objects the legend names: all of them, or the LEGEND_MAX with
 * the most bytes mapped. *nr_used receives how many objects have mappings.
 */
static int pick_legend(struct show *s, size_t *nr_used)
{
	struct bo_rank *rank;
	size_t n = 0, i;

	for (i = 0; i < s->nr_bos; i++)
		if (s->bos[i].name)
			n++;
	*nr_used = n;
	if (n <= LEGEND_MAX) {
		for (i = 0; i < s->nr_bos; i++)
			s->bos[i].listed = s->bos[i].name != NULL;
		return 0;
	}
	rank = malloc(n * sizeof(*rank));
	if (!rank)
		return -ENOMEM;
	n = 0;
	for (i = 0; i < s->nr_bos; i++) {
		if (s->bos[i].name) {
			rank[n].bytes = s->bos[i].bytes;
			rank[n++].index = i;
		}
	}
	qsort(rank, n, sizeof(*rank), cmp_bo_rank);
	for (i = 0; i < LEGEND_MAX; i++)
		s->bos[rank[i].index].listed = true;
	free(rank);
	return 0;
}

struct legend_entry {
	const char *fill; /* NULL: no swatch */
	const char *edge;
	const char *name; /* shown first and cut short; NULL for none */
	char rest[128];
};

struct legend {
	struct legend_entry e[LEGEND_MAX + 4];
	size_t n;
	unsigned int col_w;
	unsigned int cols;
	size_t rows;
};

static struct legend_entry *legend_add(struct legend *l, const char *fill,
				       const char *edge, const char *name)
{
	struct legend_entry *e = &l->e[l->n++];

	e->fill = fill;
	e->edge = edge;
	e->name = name;
	e->rest[0] = '\0';
	return e;
}

static void legend_counts(struct legend_entry *e, size_t n, uint64_t bytes)
{
	snprintf(e->rest, sizeof(e->rest), ": %zu mapping%s, %s", n,
		 n == 1 ? "" : "s", fmt_size(bytes, true).s);
}

/*
 * The legend's entries, and columns as wide as the longest one needs (at
 * about 7 px a character).
 */
static void plan_legend(const struct show *s, size_t nr_used, struct legend *l)
{
	size_t i, more = 0, more_maps = 0, len, longest = 0;
	uint64_t more_bytes = 0;
	struct legend_entry *e;

	l->n = 0;
	for (i = 0; i < s->nr_bos; i++) {
		const struct show_bo *b = &s->bos[i];

		if (!b->name)
			continue;
		if (!b->listed) {
			more++;
			more_maps += b->nr_maps;
			more_bytes += b->bytes;
			continue;
		}
		e = legend_add(l, bo_fill(i), bo_edge(i), b->name);
		legend_counts(e, b->nr_maps, b->bytes);
	}
	if (nr_used > LEGEND_MAX) {
		e = legend_add(l, NULL, NULL, NULL);
		snprintf(e->rest, sizeof(e->rest),
			 "%zu more objects: %zu mappings, %s", more, more_maps,
			 fmt_size(more_bytes, true).s);
	}
	if (s->nr_sparse) {
		e = legend_add(l, bo_fill(NO_BO), bo_edge(NO_BO), "- (sparse)");
		legend_counts(e, s->nr_sparse, s->sparse_bytes);
	}
	if (s->res_start < s->res_end) {
		e = legend_add(l, "url(#reserved)", "#111111", "reserved");
		snprintf(e->rest, sizeof(e->rest), ": 0x%" PRIx64 "+%s",
			 s->res_start,
			 fmt_size(s->res_end - s->res_start, true).s);
	}
	e = legend_add(l, COLOUR_HOLE, COLOUR_TRACK_EDGE, "hole");
	snprintf(e->rest, sizeof(e->rest), " (nothing mapped)");

	for (i = 0; i < l->n; i++) {
		e = &l->e[i];
		len = strlen(e->rest);
		if (e->name)
			len += strlen(e->name) > NAME_SHOWN ? NAME_SHOWN + 3
							    : strlen(e->name);
		if (len > longest)
			longest = len;
	}
	l->col_w = (unsigned int)(20 + longest * 7 + 24);
	l->cols = s->pw >= l->col_w ? s->pw / l->col_w : 1;
	l->rows = (l->n + l->cols - 1) / l->cols;
}

static void draw_legend(const struct show *s, const struct legend *l, int top)
{
	FILE *f = s->out;
	size_t i;

	fputs("<g class=\"legend\" font-size=\"12\">\n", f);
	for (i = 0; i < l->n; i++) {
		const struct legend_entry *e = &l->e[i];
		int x = MARGIN + (int)(i % l->cols * l->col_w);
		int y = top + (int)(i / l->cols) * LEGEND_ROW_H;

		if (e->fill)
			fprintf(f,
				"<rect class=\"swatch\" x=\"%d\" y=\"%d\" "
				"width=\"14\" height=\"14\" fill=\"%s\" "
				"stroke=\"%s\" stroke-width=\"1\"/>\n",
				x, y, e->fill, e->edge);
		fprintf(f,
			"<text class=\"legend\" x=\"%d\" y=\"%d\" "
			"fill=\"%s\">",
			x + 20, y + 11, COLOUR_TEXT);
		if (e->name)
			put_text(f, e->name, NAME_SHOWN);
		put_text(f, e->rest, SIZE_MAX);
		fputs("</text>\n", f);
	}
	fputs("</g>\n", f);
}

struct summary {
	char line[3][512];
	int nr_lines;
};

/* Two lines when they fit the width, three otherwise. */
static void plan_summary(const struct show *s, size_t nr_used,
			 struct summary *sum)
{
	uint64_t usable = s->vm_end - s->vm_start - (s->res_end - s->res_start);
	uint64_t pct = usable ? muldiv(s->mapped, 100, usable) : 0;
	char counts[128], bytes[256], hole[160];
	uint64_t size, at;

	if (s->nr_sparse)
		snprintf(counts, sizeof(counts),
			 "%zu mapping%s (%zu sparse) of %zu object%s",
			 s->nr_maps, s->nr_maps == 1 ? "" : "s", s->nr_sparse,
			 nr_used, nr_used == 1 ? "" : "s");
	else
		snprintf(counts, sizeof(counts),
			 "%zu mapping%s of %zu object%s", s->nr_maps,
			 s->nr_maps == 1 ? "" : "s", nr_used,
			 nr_used == 1 ? "" : "s");
	snprintf(bytes, sizeof(bytes),
		 "%s mapped of %s usable (%s%" PRIu64 "%%)",
		 fmt_size(s->mapped, true).s, fmt_size(usable, true).s,
		 pct == 0 && s->mapped ? "<" : "", pct ? pct : !!s->mapped);
	size = largest_hole(s, &at);
	if (size)
		snprintf(hole, sizeof(hole), "largest hole: %s at 0x%" PRIx64,
			 fmt_size(size, true).s, at);
	else
		snprintf(hole, sizeof(hole), "no hole");
	if ((strlen(counts) + 2 + strlen(bytes)) * 7 <= s->pw) {
		snprintf(sum->line[0], sizeof(sum->line[0]), "%s; %s", counts,
			 bytes);
		snprintf(sum->line[1], sizeof(sum->line[1]), "%s", hole);
		sum->nr_lines = 2;
	} else {
		snprintf(sum->line[0], sizeof(sum->line[0]), "%s", counts);
		snprintf(sum->line[1], sizeof(sum->line[1]), "%s", bytes);
		snprintf(sum->line[2], sizeof(sum->line[2]), "%s", hole);
		sum->nr_lines = 3;
	}
}

static void draw_summary(const struct show *s, const struct summary *sum)
{
	int i;

	for (i = 0; i < sum->nr_lines; i++) {
		fprintf(s->out,
			"<text class=\"summary\" x=\"%d\" y=\"%d\" "
			"fill=\"%s\">",
			MARGIN, 50 + 18 * i, COLOUR_TEXT);
		put_text(s->out, sum->line[i], SIZE_MAX);
		fputs("</text>\n", s->out);
	}
}

static int render(struct show *s, const char *name)
{
	struct strip ov, det;
	bool have_det;
	struct legend legend;
	struct summary sum;
	size_t nr_used, nr_bins;
	int height, legend_top, err = 0;
	FILE *f = s->out;

	if (pick_legend(s, &nr_used))
		return -ENOMEM;
	plan_summary(s, nr_used, &sum);
	ov.top = 50 + 18 * sum.nr_lines - 8;
	strip_init(s, &ov, STRIP_OVERVIEW, s->vm_start, s->vm_end);
	have_det = plan_detail(s, &ov, &det);
	height = ov.top + ov.height;
	if (have_det) {
		det.top = height + STRIP_GAP;
		height = det.top + det.height;
	}
	plan_legend(s, nr_used, &legend);
	legend_top = height + 8;
	height = legend_top + (int)legend.rows * LEGEND_ROW_H + 10;

	fputs("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
	      "<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" "
	      "\"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd\">\n",
	      f);
	fprintf(f,
		"<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
		"width=\"%u\" height=\"%d\" viewBox=\"0 0 %u %d\" "
		"font-family=\"sans-serif\" font-size=\"12\">\n",
		s->width, height, s->width, height);
	fputs("<title>", f);
	put_text(f, s->title ? s->title : name, SIZE_MAX);
	fputs("</title>\n", f);
	draw_defs(f);
	fprintf(f,
		"<rect class=\"background\" width=\"%u\" height=\"%d\" "
		"fill=\"#ffffff\"/>\n",
		s->width, height);
	fprintf(f,
		"<text class=\"title\" x=\"%d\" y=\"26\" font-size=\"17\" "
		"font-weight=\"bold\" fill=\"%s\">",
		MARGIN, COLOUR_TEXT);
	put_text(f, s->title ? s->title : name, TITLE_SHOWN);
	fputs("</text>\n", f);
	draw_summary(s, &sum);
	if (have_det)
		draw_zoom(s, &ov, &det);
	draw_strip(s, &ov, &nr_bins, &err);
	if (have_det)
		draw_strip(s, &det, &nr_bins, &err);
	draw_legend(s, &legend, legend_top);
	fputs("</svg>\n", f);
	return err;
}

/* ---- the subcommand ---- */

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: %s [OPTION]... FILE\n"
		"Replay the requests of FILE (- for standard input) on a "
		"fresh VM and draw\n"
		"the VA space it leaves behind as an SVG picture.\n"
		"\n"
		"Options:\n"
		"  -o, --output=FILE   write the picture to FILE instead of "
		"standard output\n"
		"  -r, --range=START:END\n"
		"                      also draw [START, END) in detail under "
		"the overview\n"
		"                      (numbers in decimal or 0x-hex)\n"
		"  -w, --width=PX      width of the picture in pixels "
		"(%d to %d; default %d)\n"
		"  -t, --title=TEXT    the picture's title (default: FILE)\n"
		"  -m, --mode=MODE     how the replay reaches the library: "
		"callbacks (the\n"
		"                      default) or ops, as for 'gpuvm "
		"replay'\n"
		"  -h, --help          print this help and exit\n"
		"\n"
		"Mappings are drawn one rectangle each, coloured by buffer "
		"object (sparse\n"
		"mappings hatched grey, the reserved region hatched dark). "
		"With more than\n"
		"one mapping per %d pixels they are aggregated into "
		"pixel-wide bins, and the\n"
		"densest region is drawn again in detail.\n"
		"\n"
		"Exit status: 0 on success, 1 on an internal error (such as a "
		"write error),\n"
		"2 on an error in the file or on the command line.\n",
		prog, WIDTH_MIN, WIDTH_MAX, WIDTH_DEFAULT, SPARSE_MIN_PX);
}

static bool parse_range(const char *arg, uint64_t *start, uint64_t *end)
{
	const char *colon = strchr(arg, ':');

	return colon && parse_u64(arg, (size_t)(colon - arg), start) &&
	       parse_u64(colon + 1, strlen(colon + 1), end) && *start < *end;
}

static void show_free(struct show *s)
{
	size_t i;

	for (i = 0; i < s->nr_bos; i++)
		free(s->bos[i].name);
	free(s->bos);
	free(s->maps);
}

static int bad_usage(const char *prog)
{
	usage(stderr, prog);
	return REPLAY_EXIT_FILE;
}

static int run(struct show *s, FILE *in, const char *name,
	       struct replay_options *opt, const char *output)
{
	FILE *sink;
	int status, err;

	/* The replay's own output is not wanted, its errors are. */
	sink = fopen("/dev/null", "w");
	if (!sink) {
		fprintf(stderr, "%s: cannot open /dev/null: %s\n", s->prog,
			strerror(errno));
		return REPLAY_EXIT_INTERNAL;
	}
	opt->final = collect;
	opt->priv = s;
	status = gpuvm_replay(in, name, sink, stderr, opt);
	fclose(sink);
	if (status)
		return status;

	if (s->have_range) {
		if (s->range_end <= s->vm_start ||
		    s->range_start >= s->vm_end) {
			fprintf(stderr,
				"%s: range 0x%" PRIx64 ":0x%" PRIx64
				" is outside the VA space 0x%" PRIx64
				":0x%" PRIx64 "\n",
				s->prog, s->range_start, s->range_end,
				s->vm_start, s->vm_end);
			return REPLAY_EXIT_FILE;
		}
		s->range_start = max_u64(s->range_start, s->vm_start);
		s->range_end = min_u64(s->range_end, s->vm_end);
	}

	if (output && strcmp(output, "-") != 0) {
		s->out = fopen(output, "w");
		if (!s->out) {
			fprintf(stderr, "%s: cannot open '%s': %s\n", s->prog,
				output, strerror(errno));
			return REPLAY_EXIT_FILE;
		}
	} else {
		s->out = stdout;
	}
	err = render(s, name);
	errno = 0;
	if (fflush(s->out) || ferror(s->out)) {
		fprintf(stderr, "%s: cannot write the output: %s\n", s->prog,
			errno ? strerror(errno) : "write error");
		status = REPLAY_EXIT_INTERNAL;
	}
	if (s->out != stdout && fclose(s->out) && !status) {
		fprintf(stderr, "%s: cannot write the output: %s\n", s->prog,
			strerror(errno));
		status = REPLAY_EXIT_INTERNAL;
	}
	if (err && !status) {
		fprintf(stderr, "%s: out of memory\n", s->prog);
		status = REPLAY_EXIT_INTERNAL;
	}
	return status;
}

int gpuvm_cmd_show(int argc, char **argv)
{
	static const struct option long_opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "range", required_argument, NULL, 'r' },
		{ "width", required_argument, NULL, 'w' },
		{ "title", required_argument, NULL, 't' },
		{ "mode", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct replay_options opt = { .mode = REPLAY_MODE_CALLBACKS };
	struct show s = { .prog = argv[0], .width = WIDTH_DEFAULT };
	const char *output = NULL, *path, *name;
	uint64_t v;
	FILE *in;
	int c, status;

	while ((c = getopt_long(argc, argv, "o:r:w:t:m:h", long_opts, NULL)) !=
	       -1) {
		switch (c) {
		case 'o':
			output = optarg;
			break;
		case 'r':
			if (!parse_range(optarg, &s.range_start,
					 &s.range_end)) {
				fprintf(stderr,
					"%s: invalid range '%s' (expected "
					"START:END with START < END)\n",
					s.prog, optarg);
				return bad_usage(s.prog);
			}
			s.have_range = true;
			break;
		case 'w':
			if (!parse_u64(optarg, strlen(optarg), &v) ||
			    v < WIDTH_MIN || v > WIDTH_MAX) {
				fprintf(stderr,
					"%s: invalid width '%s' (expected %d "
					"to %d pixels)\n",
					s.prog, optarg, WIDTH_MIN, WIDTH_MAX);
				return bad_usage(s.prog);
			}
			s.width = (unsigned int)v;
			break;
		case 't':
			s.title = optarg;
			break;
		case 'm':
			if (!replay_mode_parse(optarg, &opt.mode)) {
				fprintf(stderr,
					"%s: unknown mode '%s' (expected "
					"'callbacks' or 'ops')\n",
					s.prog, optarg);
				return bad_usage(s.prog);
			}
			break;
		case 'h':
			usage(stdout, s.prog);
			return fflush(stdout) ? REPLAY_EXIT_INTERNAL
					      : REPLAY_EXIT_OK;
		default:
			usage(stderr, s.prog);
			return REPLAY_EXIT_FILE;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "%s: %s\n", s.prog,
			argc - optind ? "too many arguments"
				      : "missing FILE argument");
		return bad_usage(s.prog);
	}
	s.pw = s.width - 2 * MARGIN;

	path = argv[optind];
	if (strcmp(path, "-") == 0) {
		in = stdin;
		name = "<stdin>";
	} else {
		in = fopen(path, "r");
		if (!in) {
			fprintf(stderr, "%s: cannot open '%s': %s\n", s.prog,
				path, strerror(errno));
			return REPLAY_EXIT_FILE;
		}
		name = path;
	}
	status = run(&s, in, name, &opt, output);
	if (in != stdin)
		fclose(in);
	show_free(&s);
	return status;
}
