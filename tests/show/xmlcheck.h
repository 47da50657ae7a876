/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_TESTS_XMLCHECK_H
#define GPUVM_TESTS_XMLCHECK_H

#include <stddef.h>

/*
 * DOC: A small XML well-formedness checker
 *
 * Enough of XML 1.0 to tell whether a document the tools wrote is
 * well-formed, without a dependency: UTF-8 text made of XML characters, an
 * optional XML declaration, comments, processing instructions, a DOCTYPE
 * without an internal subset, one root element, properly nested and closed
 * tags, unique quoted attributes, the five predefined entities and
 * character references, CDATA sections. DTD validation is out of scope.
 */

#define XMLCHECK_MAX_COUNTS 64

/**
 * struct xml_count - how often a name occurs
 * @name: an element name, or "class=VALUE" for a class attribute value
 * @n: occurrences
 */
struct xml_count {
	char name[64];
	size_t n;
};

/**
 * struct xml_stats - what a checked document holds
 * @root: the root element's name
 * @root_xmlns: the value of the root's xmlns attribute ("" if none)
 * @root_version: the value of the root's version attribute ("" if none)
 * @elements: elements in all
 * @nr_counts: entries used in @counts
 * @counts: per element name and per class value, in order of appearance;
 *          names past XMLCHECK_MAX_COUNTS distinct ones are not counted
 */
struct xml_stats {
	char root[64];
	char root_xmlns[128];
	char root_version[16];
	size_t elements;
	size_t nr_counts;
	struct xml_count counts[XMLCHECK_MAX_COUNTS];
};

/**
 * xml_check() - check that a document is well-formed
 * @doc: the document's bytes
 * @len: their number
 * @stats: filled in (also on failure, as far as the check got)
 * @err: receives "line N: what is wrong" on failure
 * @errlen: size of @err
 *
 * Return: 0 if @doc is well-formed, -1 otherwise.
 */
int xml_check(const char *doc, size_t len, struct xml_stats *stats, char *err,
	      size_t errlen);

#endif /* GPUVM_TESTS_XMLCHECK_H */
