// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmlcheck.h"

/*
 * svgcheck FILE: exits 0 if FILE is a well-formed SVG 1.1 document (root
 * <svg> in the SVG namespace, version 1.1) and prints how many elements of
 * each name and of each class it holds, one "NAME COUNT" line each:
 *
 *   elements 42
 *   rect 17
 *   class=map 11
 *
 * Otherwise prints what is wrong on standard error and exits 1.
 */
int main(int argc, char **argv)
{
	struct xml_stats st;
	char err[256];
	size_t len = 0, cap = 0, i;
	char *buf = NULL;
	FILE *f;
	int ret = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: svgcheck FILE\n");
		return 2;
	}
	f = fopen(argv[1], "rb");
	if (!f) {
		perror(argv[1]);
		return 2;
	}
	for (;;) {
		size_t n;

		if (len == cap) {
			char *b;

			cap = cap ? cap * 2 : 65536;
			b = realloc(buf, cap);
			if (!b) {
				fprintf(stderr, "svgcheck: out of memory\n");
				goto out;
			}
			buf = b;
		}
		n = fread(buf + len, 1, cap - len, f);
		if (!n)
			break;
		len += n;
	}
	if (ferror(f)) {
		perror(argv[1]);
		goto out;
	}
	if (xml_check(buf, len, &st, err, sizeof(err))) {
		fprintf(stderr, "%s: not well-formed: %s\n", argv[1], err);
		goto out;
	}
	if (strcmp(st.root, "svg") != 0 ||
	    strcmp(st.root_xmlns, "http://www.w3.org/2000/svg") != 0 ||
	    strcmp(st.root_version, "1.1") != 0) {
		fprintf(stderr,
			"%s: root is <%s xmlns=\"%s\" version=\"%s\">, not "
			"an SVG 1.1 <svg>\n",
			argv[1], st.root, st.root_xmlns, st.root_version);
		goto out;
	}
	printf("elements %zu\n", st.elements);
	for (i = 0; i < st.nr_counts; i++)
		printf("%s %zu\n", st.counts[i].name, st.counts[i].n);
	ret = 0;
out:
	free(buf);
	fclose(f);
	return ret;
}
