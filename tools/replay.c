// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gpuvm/gpuvm.h>

#include "replay.h"

#if defined(__GNUC__)
#define REPLAY_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define REPLAY_PRINTF(fmt, args)
#endif

/*
 * The longest command has four arguments. Tokens past the fifth are only
 * counted, so that a line of any length costs a bounded amount of memory.
 */
#define MAX_TOKENS 5

/* Tokens are quoted in messages up to this many characters. */
#define QUOTE_MAX 64

#define QFMT "'%.*s%s'"
#define QARG(t)                                                                \
	(int)((t)->len > QUOTE_MAX ? QUOTE_MAX : (t)->len), (t)->text,         \
		((t)->len > QUOTE_MAX ? "..." : "")

/*
 * Numbers are parsed while they are read, one character at a time, so that
 * any number of leading zeros works without keeping the token's text.
 */
enum num_state {
	NUM_START,
	NUM_ZERO,
	NUM_DEC,
	NUM_HEX_PREFIX,
	NUM_HEX,
	NUM_BAD,
};

struct token {
	size_t len;
	enum num_state num;
	bool overflow;
	uint64_t value;
	/* The first REPLAY_NAME_MAX characters, NUL-terminated. */
	char text[REPLAY_NAME_MAX + 1];
};

struct replay_bo {
	struct gpuvm_gem gem;
	struct replay_bo *hash_next;
	uint64_t line;
	/* Split/merge never looks at reservations; kept so that the BO is
	 * described as it was declared.
	 */
	bool ext;
	size_t index;
	size_t len;
	char name[];
};

struct replay_va {
	struct gpuva va;
};

struct replay {
	FILE *in;
	FILE *out;
	FILE *err;
	const char *name;
	struct replay_options opt;

	uint64_t line;
	bool eof;
	size_t ntok;
	struct token tok[MAX_TOKENS];

	/* The VA space as the file declared it, kept apart from the VM's copy
	 * so that request validity is decided independently of the library.
	 */
	bool have_vm;
	uint64_t vm_line;
	uint64_t vm_start;
	uint64_t vm_end;
	uint64_t res_start;
	uint64_t res_end;
	bool vm_freed;
	struct gpuvm vm;
	struct gpuvm_gem *r_obj;

	struct replay_bo **bo_hash;
	size_t bo_buckets;
	size_t nr_bo;

	/* Set while the library is asked to reject a request: a step then is
	 * a library bug.
	 */
	bool steps_forbidden;
	int status;
};

REPLAY_PRINTF(3, 0)
static void report_v(struct replay *r, bool with_line, const char *fmt,
		     va_list ap)
{
	/* What was printed so far must reach the terminal before the error. */
	fflush(r->out);
	if (with_line)
		fprintf(r->err, "%s:%" PRIu64 ": ", r->name,
			r->line ? r->line : 1);
	else
		fprintf(r->err, "%s: ", r->name);
	vfprintf(r->err, fmt, ap);
	fputc('\n', r->err);
	fflush(r->err);
}

REPLAY_PRINTF(3, 4)
static int report(struct replay *r, int status, const char *fmt, ...)
{
	va_list ap;

	if (r->status)
		return r->status;
	va_start(ap, fmt);
	report_v(r, true, fmt, ap);
	va_end(ap);
	r->status = status;
	return status;
}

REPLAY_PRINTF(3, 4)
static int report_noline(struct replay *r, int status, const char *fmt, ...)
{
	va_list ap;

	if (r->status)
		return r->status;
	va_start(ap, fmt);
	report_v(r, false, fmt, ap);
	va_end(ap);
	r->status = status;
	return status;
}

#define file_error(r, ...)     report((r), REPLAY_EXIT_FILE, __VA_ARGS__)
#define internal_error(r, ...) report((r), REPLAY_EXIT_INTERNAL, __VA_ARGS__)

static int lib_error(struct replay *r, int ret, const char *what)
{
	if (r->status)
		return r->status;
	if (ret == -ENOMEM)
		return internal_error(r, "out of memory");
	return internal_error(r, "internal error: %s() failed: %s", what,
			      strerror(ret < 0 ? -ret : ret));
}

static bool add_overflows(uint64_t a, uint64_t b, uint64_t *sum)
{
	*sum = a + b;
	return *sum < a;
}

/* By hand rather than <ctype.h>, whose classes depend on the locale. */
static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int hex_value(int c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool is_name_start(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_name_char(int c)
{
	return is_name_start(c) || is_digit(c);
}

/* ---- lexer ---- */

static void tok_start(struct token *t)
{
	t->len = 0;
	t->num = NUM_START;
	t->overflow = false;
	t->value = 0;
}

static void num_shift(struct token *t, unsigned int base, unsigned int digit)
{
	if (t->value > (UINT64_MAX - digit) / base)
		t->overflow = true;
	else
		t->value = t->value * base + digit;
}

static void tok_feed(struct token *t, int c)
{
	int h;

	if (t->len < REPLAY_NAME_MAX)
		t->text[t->len] = (char)c;
	t->len++;

	switch (t->num) {
	case NUM_START:
		if (c == '0') {
			t->num = NUM_ZERO;
		} else if (is_digit(c)) {
			t->num = NUM_DEC;
			t->value = (uint64_t)(c - '0');
		} else {
			t->num = NUM_BAD;
		}
		break;
	case NUM_ZERO:
		if (c == 'x' || c == 'X') {
			t->num = NUM_HEX_PREFIX;
		} else if (is_digit(c)) {
			t->num = NUM_DEC;
			t->value = (uint64_t)(c - '0');
		} else {
			t->num = NUM_BAD;
		}
		break;
	case NUM_DEC:
		if (is_digit(c))
			num_shift(t, 10, (unsigned int)(c - '0'));
		else
			t->num = NUM_BAD;
		break;
	case NUM_HEX_PREFIX:
	case NUM_HEX:
		h = hex_value(c);
		if (h >= 0) {
			t->num = NUM_HEX;
			num_shift(t, 16, (unsigned int)h);
		} else {
			t->num = NUM_BAD;
		}
		break;
	case NUM_BAD:
		break;
	}
}

static void tok_end(struct token *t)
{
	t->text[t->len < REPLAY_NAME_MAX ? t->len : REPLAY_NAME_MAX] = '\0';
	if (t->num == NUM_HEX_PREFIX)
		t->num = NUM_BAD;
}

/*
 * Reads one line into r->tok, stripped of blanks and comments.
 * Return: 1 for a line, 0 at the end of the input, -1 after an error.
 */
static int read_line(struct replay *r)
{
	struct token *cur = NULL;
	bool in_tok = false;
	bool in_comment = false;
	bool started = false;
	int c;

	r->ntok = 0;
	if (r->eof)
		return 0;

	for (;;) {
		c = getc(r->in);
		if (c == EOF) {
			if (ferror(r->in)) {
				int e = errno;

				if (!started)
					r->line++;
				file_error(r, "read error: %s", strerror(e));
				return -1;
			}
			r->eof = true;
			if (!started)
				return 0;
			break;
		}
		if (!started) {
			started = true;
			r->line++;
		}
		if (c == '\n')
			break;
		if (c == '\r') {
			c = getc(r->in);
			if (c == '\n')
				break;
			file_error(r, "carriage return not followed by a "
				      "line feed");
			return -1;
		}
		if (c == ' ' || c == '\t') {
			if (cur)
				tok_end(cur);
			cur = NULL;
			in_tok = false;
			continue;
		}
		if (c < 0x20 || c > 0x7e) {
			file_error(r, "invalid byte 0x%02x", c);
			return -1;
		}
		if (in_comment)
			continue;
		if (c == '#') {
			if (cur)
				tok_end(cur);
			cur = NULL;
			in_tok = false;
			in_comment = true;
			continue;
		}
		if (!in_tok) {
			in_tok = true;
			if (r->ntok < MAX_TOKENS) {
				cur = &r->tok[r->ntok];
				tok_start(cur);
			}
			r->ntok++;
		}
		if (cur)
			tok_feed(cur, c);
	}
	if (cur)
		tok_end(cur);
	return 1;
}

static bool tok_is(const struct token *t, const char *s)
{
	size_t n = strlen(s);

	return t->len == n && memcmp(t->text, s, n) == 0;
}

/* ---- arguments ---- */

static int arg_number(struct replay *r, size_t i, const char *what,
		      uint64_t *value)
{
	const struct token *t = &r->tok[i];

	if (t->num == NUM_BAD || t->num == NUM_START)
		return file_error(r, "invalid number " QFMT " for %s", QARG(t),
				  what);
	if (t->overflow)
		return file_error(r,
				  "number " QFMT " for %s does not fit in "
				  "64 bits",
				  QARG(t), what);
	*value = t->value;
	return 0;
}

static bool tok_is_dash(const struct token *t)
{
	return t->len == 1 && t->text[0] == '-';
}

static int check_name(struct replay *r, const struct token *t)
{
	size_t i;

	if (tok_is_dash(t))
		return file_error(r, "'-' is not a buffer object name (it "
				     "means no buffer object)");
	if (t->len > REPLAY_NAME_MAX)
		return file_error(r,
				  "buffer object name " QFMT " too long (%zu "
				  "characters, at most %d)",
				  QARG(t), t->len, REPLAY_NAME_MAX);
	if (!is_name_start((unsigned char)t->text[0]))
		goto bad;
	for (i = 1; i < t->len; i++)
		if (!is_name_char((unsigned char)t->text[i]))
			goto bad;
	return 0;
bad:
	return file_error(r, "invalid buffer object name " QFMT, QARG(t));
}

static int need_args(struct replay *r, const char *cmd, size_t a, size_t b)
{
	size_t n = r->ntok - 1;

	if (n == a || n == b)
		return 0;
	if (a == b)
		return file_error(r, "expected %zu argument%s to '%s', got %zu",
				  a, a == 1 ? "" : "s", cmd, n);
	return file_error(r, "expected %zu or %zu arguments to '%s', got %zu",
			  a, b, cmd, n);
}

static int need_vm(struct replay *r, const char *cmd)
{
	if (r->have_vm)
		return 0;
	return file_error(r, "'vm' must come first (found '%s')", cmd);
}

/* ---- buffer objects ---- */

static size_t name_hash(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	return (size_t)(h ^ (h >> 32));
}

static struct replay_bo *bo_lookup(struct replay *r, const struct token *t)
{
	struct replay_bo *bo;

	if (!r->bo_buckets)
		return NULL;
	bo = r->bo_hash[name_hash(t->text, t->len) & (r->bo_buckets - 1)];
	for (; bo; bo = bo->hash_next)
		if (bo->len == t->len && memcmp(bo->name, t->text, t->len) == 0)
			return bo;
	return NULL;
}

static int bo_hash_grow(struct replay *r)
{
	size_t n = r->bo_buckets ? r->bo_buckets * 2 : 16;
	struct replay_bo **h;
	size_t i;

	h = calloc(n, sizeof(*h));
	if (!h)
		return -ENOMEM;
	for (i = 0; i < r->bo_buckets; i++) {
		struct replay_bo *bo = r->bo_hash[i], *next;

		for (; bo; bo = next) {
			size_t b = name_hash(bo->name, bo->len) & (n - 1);

			next = bo->hash_next;
			bo->hash_next = h[b];
			h[b] = bo;
		}
	}
	free(r->bo_hash);
	r->bo_hash = h;
	r->bo_buckets = n;
	return 0;
}

static void bo_free(struct gpuvm_gem *obj)
{
	free(gpuvm_container_of(obj, struct replay_bo, gem));
}

static const struct gpuvm_gem_funcs bo_funcs = {
	.free = bo_free,
};

static const char *bo_name(struct gpuvm_gem *obj)
{
	return obj ? gpuvm_container_of(obj, struct replay_bo, gem)->name : "-";
}

const char *replay_bo_name(const struct gpuvm_gem *obj, size_t *index)
{
	const struct replay_bo *bo;

	if (!obj) {
		if (index)
			*index = 0;
		return "-";
	}
	bo = gpuvm_container_of(obj, const struct replay_bo, gem);
	if (index)
		*index = bo->index;
	return bo->name;
}

/* The VM's common reservation object; it has no name and maps nothing. */
static void r_obj_free(struct gpuvm_gem *obj)
{
	free(obj);
}

static const struct gpuvm_gem_funcs r_obj_funcs = {
	.free = r_obj_free,
};

/* ---- output ---- */

static void print_map(struct replay *r, const char *prefix,
		      const struct gpuva_op_map *m)
{
	fprintf(r->out, "%s0x%" PRIx64 " 0x%" PRIx64 " %s 0x%" PRIx64 "\n",
		prefix, m->va.addr, m->va.range, bo_name(m->gem.obj),
		m->gem.offset);
}

static void print_va(struct replay *r, const char *prefix,
		     const struct gpuva *va)
{
	fprintf(r->out, "%s0x%" PRIx64 " 0x%" PRIx64 " %s 0x%" PRIx64, prefix,
		va->va.addr, va->va.range, bo_name(va->gem.obj),
		va->gem.offset);
}

static void print_piece(struct replay *r, const char *label,
			const struct gpuva_op_map *m)
{
	if (!m) {
		fprintf(r->out, " %s=-", label);
		return;
	}
	fprintf(r->out, " %s=0x%" PRIx64 ":0x%" PRIx64 ":0x%" PRIx64, label,
		m->va.addr, m->va.range, m->gem.offset);
}

static int print_op(struct replay *r, const struct gpuva_op *op)
{
	if ((op->op == GPUVA_OP_UNMAP && !op->unmap.va) ||
	    (op->op == GPUVA_OP_REMAP &&
	     (!op->remap.unmap || !op->remap.unmap->va)))
		return internal_error(r, "internal error: an op without the "
					 "mapping it removes");
	switch (op->op) {
	case GPUVA_OP_MAP:
		print_map(r, "  op map ", &op->map);
		return 0;
	case GPUVA_OP_UNMAP:
		print_va(r, "  op unmap ", op->unmap.va);
		fprintf(r->out, " keep=%d\n", op->unmap.keep ? 1 : 0);
		return 0;
	case GPUVA_OP_REMAP:
		print_va(r, "  op remap ", op->remap.unmap->va);
		fprintf(r->out, " keep=%d", op->remap.unmap->keep ? 1 : 0);
		print_piece(r, "prev", op->remap.prev);
		print_piece(r, "next", op->remap.next);
		fputc('\n', r->out);
		return 0;
	default:
		return internal_error(r,
				      "internal error: unexpected op type %d",
				      (int)op->op);
	}
}

/* ---- applying ops ---- */

static struct replay_va *va_alloc(void)
{
	return calloc(1, sizeof(struct replay_va));
}

static void va_free(struct gpuva *va)
{
	free(gpuvm_container_of(va, struct replay_va, va));
}

/* The reserved node is part of the VM, not one of ours: never free it. */
static int check_not_reserved(struct replay *r, const struct gpuva *va)
{
	if (!va || gpuvm_va_is_reserved(&r->vm, va))
		return internal_error(r, "internal error: an op removes %s",
				      va ? "the reserved region"
					 : "no mapping");
	return 0;
}

static int apply_map(struct replay *r, struct gpuva_op *op)
{
	struct replay_va *m = va_alloc();
	int ret;

	if (!m) {
		lib_error(r, -ENOMEM, "calloc");
		return -ENOMEM;
	}
	ret = gpuva_map(&r->vm, &m->va, &op->map);
	if (ret) {
		free(m);
		lib_error(r, ret, "gpuva_map");
	}
	return ret;
}

static int apply_remap(struct replay *r, struct gpuva_op *op)
{
	struct gpuva *old = op->remap.unmap ? op->remap.unmap->va : NULL;
	struct replay_va *prev = NULL, *next = NULL;
	int ret;

	if (check_not_reserved(r, old))
		return -ECANCELED;
	if (op->remap.prev) {
		prev = va_alloc();
		if (!prev)
			goto nomem;
	}
	if (op->remap.next) {
		next = va_alloc();
		if (!next)
			goto nomem;
	}
	ret = gpuva_remap(prev ? &prev->va : NULL, next ? &next->va : NULL,
			  &op->remap);
	if (ret) {
		free(prev);
		free(next);
		lib_error(r, ret, "gpuva_remap");
		return ret;
	}
	va_free(old);
	return 0;
nomem:
	free(prev);
	lib_error(r, -ENOMEM, "calloc");
	return -ENOMEM;
}

static int apply_unmap(struct replay *r, struct gpuva_op *op)
{
	struct gpuva *old = op->unmap.va;

	if (check_not_reserved(r, old))
		return -ECANCELED;
	gpuva_unmap(&op->unmap);
	va_free(old);
	return 0;
}

static int apply_op(struct replay *r, struct gpuva_op *op)
{
	switch (op->op) {
	case GPUVA_OP_MAP:
		return apply_map(r, op);
	case GPUVA_OP_REMAP:
		return apply_remap(r, op);
	case GPUVA_OP_UNMAP:
		return apply_unmap(r, op);
	default:
		internal_error(r, "internal error: unexpected op type %d",
			       (int)op->op);
		return -ECANCELED;
	}
}

/* ---- callbacks mode ---- */

static int step(struct gpuva_op *op, void *priv, enum gpuva_op_type type)
{
	struct replay *r = priv;

	if (r->steps_forbidden) {
		internal_error(r, "internal error: the library made a step "
				  "for an invalid request");
		return -ECANCELED;
	}
	if (op->op != type) {
		internal_error(r,
			       "internal error: op type %d in the step "
			       "callback for type %d",
			       (int)op->op, (int)type);
		return -ECANCELED;
	}
	if (print_op(r, op))
		return -ECANCELED;
	return apply_op(r, op);
}

static int step_map(struct gpuva_op *op, void *priv)
{
	return step(op, priv, GPUVA_OP_MAP);
}

static int step_remap(struct gpuva_op *op, void *priv)
{
	return step(op, priv, GPUVA_OP_REMAP);
}

static int step_unmap(struct gpuva_op *op, void *priv)
{
	return step(op, priv, GPUVA_OP_UNMAP);
}

static void vm_free(struct gpuvm *vm)
{
	/* The VM is embedded in the run's state; just note that it went. */
	gpuvm_container_of(vm, struct replay, vm)->vm_freed = true;
}

static const struct gpuvm_ops vm_ops = {
	.vm_free = vm_free,
	.sm_step_map = step_map,
	.sm_step_remap = step_remap,
	.sm_step_unmap = step_unmap,
};

/* ---- requests ---- */

static bool range_ok(const struct replay *r, uint64_t addr, uint64_t range)
{
	uint64_t end;

	if (range == 0 || add_overflows(addr, range, &end))
		return false;
	if (addr < r->vm_start || end > r->vm_end)
		return false;
	if (r->res_start < r->res_end && addr < r->res_end &&
	    r->res_start < end)
		return false;
	return true;
}

/*
 * Runs one request (@req NULL: unmap [@addr, @addr + @range)) in the
 * configured mode. With @expect_einval the library must refuse it without
 * a single step.
 */
static int run_request(struct replay *r, const struct gpuvm_map_req *req,
		       uint64_t addr, uint64_t range, bool expect_einval)
{
	const char *what;
	struct gpuva_ops *ops = NULL;
	struct gpuva_op *op;
	int ret;

	if (r->opt.mode == REPLAY_MODE_CALLBACKS) {
		what = req ? "gpuvm_sm_map" : "gpuvm_sm_unmap";
		r->steps_forbidden = expect_einval;
		if (req)
			ret = gpuvm_sm_map(&r->vm, r, req);
		else
			ret = gpuvm_sm_unmap(&r->vm, r, addr, range);
		r->steps_forbidden = false;
		if (r->status)
			return r->status;
		if (expect_einval && ret != -EINVAL)
			return internal_error(r,
					      "internal error: %s() "
					      "accepted an invalid request",
					      what);
		if (!expect_einval && ret)
			return lib_error(r, ret, what);
		return 0;
	}

	what = req ? "gpuvm_sm_map_ops_create" : "gpuvm_sm_unmap_ops_create";
	if (req)
		ret = gpuvm_sm_map_ops_create(&r->vm, req, &ops);
	else
		ret = gpuvm_sm_unmap_ops_create(&r->vm, addr, range, &ops);
	if (expect_einval) {
		if (ret == -EINVAL)
			return 0;
		if (ret)
			return lib_error(r, ret, what);
		gpuva_ops_free(&r->vm, ops);
		return internal_error(r,
				      "internal error: %s() accepted an "
				      "invalid request",
				      what);
	}
	if (ret)
		return lib_error(r, ret, what);
	if (!ops)
		return 0;
	gpuva_for_each_op(op, ops) {
		if (print_op(r, op))
			goto out;
	}
	gpuva_for_each_op(op, ops) {
		if (apply_op(r, op))
			goto out;
	}
out:
	gpuva_ops_free(&r->vm, ops);
	return r->status;
}

static int check_vm(struct replay *r)
{
	char msg[256];

	if (!r->opt.check)
		return 0;
	if (gpuvm_check_invariants(&r->vm, msg, sizeof(msg)))
		return internal_error(r, "internal error: broken invariant: %s",
				      msg);
	return 0;
}

static int request(struct replay *r, const struct gpuvm_map_req *req,
		   uint64_t addr, uint64_t range, bool valid)
{
	bool rok = range_ok(r, addr, range);
	int ret;

	if (gpuvm_range_valid(&r->vm, addr, range) != rok)
		return internal_error(r,
				      "internal error: gpuvm_range_valid() "
				      "says %s",
				      rok ? "invalid" : "valid");
	if (!rok || !valid) {
		/* Offset and size checks are the caller's, so only a bad
		 * range is put to the library.
		 */
		if (!rok) {
			ret = run_request(r, req, addr, range, true);
			if (ret)
				return ret;
		}
		fputs("  error EINVAL\n", r->out);
		return 0;
	}
	ret = run_request(r, req, addr, range, false);
	if (ret)
		return ret;
	return check_vm(r);
}

/* ---- commands ---- */

static int cmd_vm(struct replay *r)
{
	uint64_t start = 0, range = 0, end, res_start = 0, res_range = 0;
	uint64_t res_end = 0;
	int ret;

	if (r->have_vm)
		return file_error(
			r, "duplicate 'vm' (the first is on line %" PRIu64 ")",
			r->vm_line);
	if (need_args(r, "vm", 2, 4) || arg_number(r, 1, "START", &start) ||
	    arg_number(r, 2, "RANGE", &range))
		return r->status;
	if (r->ntok == 5 && (arg_number(r, 3, "RES_ADDR", &res_start) ||
			     arg_number(r, 4, "RES_RANGE", &res_range)))
		return r->status;
	if (range == 0)
		return file_error(r, "empty VA space (RANGE is 0)");
	if (add_overflows(start, range, &end))
		return file_error(r, "VA space overflows 64 bits (START + "
				     "RANGE > 2^64 - 1)");
	if (r->ntok == 5) {
		if (res_range == 0)
			return file_error(r, "empty reserved region "
					     "(RES_RANGE is 0)");
		if (add_overflows(res_start, res_range, &res_end) ||
		    res_start < start || res_end > end)
			return file_error(r, "reserved region not inside the "
					     "VA space");
	}

	r->r_obj = malloc(sizeof(*r->r_obj));
	if (!r->r_obj)
		return internal_error(r, "out of memory");
	ret = gpuvm_gem_init(r->r_obj, &r_obj_funcs, 0);
	if (ret) {
		free(r->r_obj);
		r->r_obj = NULL;
		return lib_error(r, ret, "gpuvm_gem_init");
	}
	ret = gpuvm_init(&r->vm, "replay", 0, r->r_obj, start, range, res_start,
			 res_range, &vm_ops);
	if (ret)
		return lib_error(r, ret, "gpuvm_init");
	r->have_vm = true;
	r->vm_line = r->line;
	r->vm_start = start;
	r->vm_end = end;
	r->res_start = res_start;
	r->res_end = res_end;
	return check_vm(r);
}

static int cmd_bo(struct replay *r)
{
	const struct token *name = &r->tok[1];
	struct replay_bo *bo;
	uint64_t size = 0;
	size_t b;
	int ret;

	if (need_vm(r, "bo") || need_args(r, "bo", 2, 3) ||
	    check_name(r, name) || arg_number(r, 2, "SIZE", &size))
		return r->status;
	if (r->ntok == 4 && !tok_is(&r->tok[3], "ext"))
		return file_error(r,
				  "expected 'ext' or nothing after the size "
				  "of 'bo', got " QFMT,
				  QARG(&r->tok[3]));
	bo = bo_lookup(r, name);
	if (bo)
		return file_error(r,
				  "duplicate buffer object " QFMT
				  " (declared on line %" PRIu64 ")",
				  QARG(name), bo->line);

	if (r->nr_bo >= r->bo_buckets && bo_hash_grow(r))
		return internal_error(r, "out of memory");
	bo = malloc(sizeof(*bo) + name->len + 1);
	if (!bo)
		return internal_error(r, "out of memory");
	ret = gpuvm_gem_init(&bo->gem, &bo_funcs, size);
	if (ret) {
		free(bo);
		return lib_error(r, ret, "gpuvm_gem_init");
	}
	bo->line = r->line;
	bo->ext = r->ntok == 4;
	bo->index = r->nr_bo;
	bo->len = name->len;
	memcpy(bo->name, name->text, name->len + 1);
	b = name_hash(bo->name, bo->len) & (r->bo_buckets - 1);
	bo->hash_next = r->bo_hash[b];
	r->bo_hash[b] = bo;
	r->nr_bo++;
	return 0;
}

static int cmd_map(struct replay *r)
{
	const struct token *name = &r->tok[3];
	struct gpuvm_map_req req;
	struct replay_bo *bo = NULL;
	uint64_t addr = 0, range = 0, offset = 0, end;
	bool valid;

	if (need_vm(r, "map") || need_args(r, "map", 4, 4) ||
	    arg_number(r, 1, "ADDR", &addr) ||
	    arg_number(r, 2, "RANGE", &range))
		return r->status;
	if (!tok_is_dash(name)) {
		if (check_name(r, name))
			return r->status;
		bo = bo_lookup(r, name);
		if (!bo)
			return file_error(r, "undeclared buffer object " QFMT,
					  QARG(name));
	}
	if (arg_number(r, 4, "OFFSET", &offset))
		return r->status;

	memset(&req, 0, sizeof(req));
	req.map.va.addr = addr;
	req.map.va.range = range;
	req.map.gem.offset = offset;
	req.map.gem.obj = bo ? &bo->gem : NULL;
	print_map(r, "map ", &req.map);

	valid = !add_overflows(offset, range, &end) &&
		(!bo || end <= bo->gem.size);
	return request(r, &req, addr, range, valid);
}

static int cmd_unmap(struct replay *r)
{
	uint64_t addr = 0, range = 0;

	if (need_vm(r, "unmap") || need_args(r, "unmap", 2, 2) ||
	    arg_number(r, 1, "ADDR", &addr) ||
	    arg_number(r, 2, "RANGE", &range))
		return r->status;
	fprintf(r->out, "unmap 0x%" PRIx64 " 0x%" PRIx64 "\n", addr, range);
	return request(r, NULL, addr, range, true);
}

static int run_line(struct replay *r)
{
	const struct token *cmd = &r->tok[0];

	if (tok_is(cmd, "map"))
		return cmd_map(r);
	if (tok_is(cmd, "unmap"))
		return cmd_unmap(r);
	if (tok_is(cmd, "bo"))
		return cmd_bo(r);
	if (tok_is(cmd, "vm"))
		return cmd_vm(r);
	return file_error(r, "unknown command " QFMT, QARG(cmd));
}

static void print_state(struct replay *r)
{
	struct gpuvm_va_iter it;
	struct gpuva *va;

	fputs("state\n", r->out);
	gpuvm_for_each_va(va, &it, &r->vm) {
		if (gpuvm_va_is_reserved(&r->vm, va))
			continue;
		print_va(r, "  va ", va);
		fputc('\n', r->out);
	}
}

static void teardown(struct replay *r)
{
	struct gpuvm_va_iter it;
	struct gpuva *va;
	size_t i;

	if (r->have_vm) {
		gpuvm_for_each_va_safe(va, &it, &r->vm) {
			if (gpuvm_va_is_reserved(&r->vm, va))
				continue;
			gpuva_remove(va);
			va_free(va);
		}
		gpuvm_put(&r->vm);
		if (!r->vm_freed)
			report_noline(r, REPLAY_EXIT_INTERNAL,
				      "internal error: the VM outlived its "
				      "last reference");
	}
	for (i = 0; i < r->bo_buckets; i++) {
		struct replay_bo *bo = r->bo_hash[i], *next;

		for (; bo; bo = next) {
			next = bo->hash_next;
			gpuvm_gem_put(&bo->gem);
		}
	}
	free(r->bo_hash);
	gpuvm_gem_put(r->r_obj);
}

bool replay_mode_parse(const char *s, enum replay_mode *mode)
{
	if (strcmp(s, "callbacks") == 0)
		*mode = REPLAY_MODE_CALLBACKS;
	else if (strcmp(s, "ops") == 0)
		*mode = REPLAY_MODE_OPS;
	else
		return false;
	return true;
}

int gpuvm_replay(FILE *in, const char *name, FILE *out, FILE *err,
		 const struct replay_options *opt)
{
	static const struct replay_options defaults = {
		.mode = REPLAY_MODE_CALLBACKS,
	};
	struct replay *r;
	int status, ret;

	/* Not on the stack: the token buffers make it large. */
	r = calloc(1, sizeof(*r));
	if (!r) {
		fflush(out);
		fprintf(err, "%s: out of memory\n", name);
		return REPLAY_EXIT_INTERNAL;
	}
	r->in = in;
	r->out = out;
	r->err = err;
	r->name = name;
	r->opt = opt ? *opt : defaults;

	for (;;) {
		ret = read_line(r);
		if (ret <= 0)
			break;
		if (r->ntok && run_line(r))
			break;
	}
	if (!r->status && !r->have_vm)
		file_error(r, "missing 'vm' command");
	if (!r->status && r->opt.final)
		r->status = r->opt.final(&r->vm, r->opt.priv);
	if (!r->status)
		print_state(r);

	teardown(r);
	errno = 0;
	if (fflush(out) || ferror(out))
		report_noline(r, REPLAY_EXIT_INTERNAL,
			      "cannot write the output: %s",
			      errno ? strerror(errno) : "write error");
	status = r->status;
	free(r);
	return status;
}

/* ---- the subcommand ---- */

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: %s [OPTION]... FILE\n"
		"Replay the map/unmap requests of FILE (- for standard "
		"input) on a fresh VM\n"
		"and print the split/merge operations and the final state.\n"
		"\n"
		"Options:\n"
		"  -m, --mode=MODE  how requests reach the library:\n"
		"                     callbacks  "
		"gpuvm_sm_map()/gpuvm_sm_unmap()"
		" with step\n"
		"                                callbacks (the default)\n"
		"                     ops        gpuvm_sm_*_ops_create(), then "
		"apply the list\n"
		"  -c, --check      check the VM's invariants after every "
		"request\n"
		"  -h, --help       print this help and exit\n"
		"\n"
		"Exit status: 0 after a complete run (rejected requests "
		"included),\n"
		"1 on an internal error (such as running out of memory), 2 on "
		"an error\n"
		"in the file or on the command line.\n",
		prog);
}

int gpuvm_cmd_replay(int argc, char **argv)
{
	static const struct option long_opts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "check", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct replay_options opt = { .mode = REPLAY_MODE_CALLBACKS };
	const char *prog = argv[0];
	const char *path, *name;
	FILE *in;
	int c, status;

	while ((c = getopt_long(argc, argv, "m:ch", long_opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (!replay_mode_parse(optarg, &opt.mode)) {
				fprintf(stderr,
					"%s: unknown mode '%s' (expected "
					"'callbacks' or 'ops')\n",
					prog, optarg);
				usage(stderr, prog);
				return REPLAY_EXIT_FILE;
			}
			break;
		case 'c':
			opt.check = true;
			break;
		case 'h':
			usage(stdout, prog);
			return fflush(stdout) ? REPLAY_EXIT_INTERNAL
					      : REPLAY_EXIT_OK;
		default:
			usage(stderr, prog);
			return REPLAY_EXIT_FILE;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "%s: %s\n", prog,
			argc - optind ? "too many arguments"
				      : "missing FILE argument");
		usage(stderr, prog);
		return REPLAY_EXIT_FILE;
	}

	path = argv[optind];
	if (strcmp(path, "-") == 0) {
		in = stdin;
		name = "<stdin>";
	} else {
		in = fopen(path, "r");
		if (!in) {
			fprintf(stderr, "%s: cannot open '%s': %s\n", prog,
				path, strerror(errno));
			return REPLAY_EXIT_FILE;
		}
		name = path;
	}
	status = gpuvm_replay(in, name, stdout, stderr, &opt);
	if (in != stdin)
		fclose(in);
	return status;
}
