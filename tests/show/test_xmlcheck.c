// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "xmlcheck.h"

/*
 * The checker that the show tests rely on must reject what is broken, or
 * they would prove nothing.
 */

static int check(const char *doc, struct xml_stats *st, char *err,
		 size_t errlen)
{
	return xml_check(doc, strlen(doc), st, err, errlen);
}

static size_t count_of(const struct xml_stats *st, const char *name)
{
	size_t i;

	for (i = 0; i < st->nr_counts; i++)
		if (strcmp(st->counts[i].name, name) == 0)
			return st->counts[i].n;
	return 0;
}

static void test_good(void **state)
{
	static const char *const docs[] = {
		"<a/>",
		"<a></a>",
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a/>\n",
		"<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" "
		"\"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd\">\n<a/>",
		"<!DOCTYPE a SYSTEM 'a.dtd'><a/>",
		"<!-- c - d --><a><!-- x --></a><!-- after -->",
		"<a x='1' y=\"2\"  z = \"3\"/>",
		"<a>&lt;&gt;&amp;&apos;&quot;&#65;&#x263A;</a>",
		"<a t=\"&amp; "
		"&#x41;\">\xc3\xa9\xe2\x80\xa6\xf0\x9f\x98\x80</a>",
		"<a><![CDATA[<not a tag> & ]]></a>",
		"<a><?pi data?><b><c/></b>text</a><?end?>",
		"<a>\t\r\n</a>",
		"<a-b.c:d_e/>",
	};
	struct xml_stats st;
	char err[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		if (check(docs[i], &st, err, sizeof(err)))
			fail_msg("rejected good document %zu: %s", i, err);
	}
}

static void test_bad(void **state)
{
	static const char *const docs[] = {
		"",
		"text",
		"<a>",
		"<a></b>",
		"<a><b></a></b>",
		"<a/><b/>",
		"<a/>text",
		"<a x=1/>",
		"<a x='1' x='2'/>",
		"<a x='1'y='2'/>",
		"<a x='<'/>",
		"<a x='&'/>",
		"<a>&</a>",
		"<a>&nbsp;</a>",
		"<a>&#0;</a>",
		"<a>&#xd800;</a>",
		"<a>&#x110000;</a>",
		"<a>&#;</a>",
		"<a>&lt</a>",
		"<a>]]></a>",
		"<a><!-- x -- y --></a>",
		"<a><!-- x </a>",
		"<a><![CDATA[ x </a>",
		" <?xml version=\"1.0\"?><a/>",
		"<!DOCTYPE a [ <!ENTITY e 'x'> ]><a/>",
		"<!DOCTYPE a><!DOCTYPE a><a/>",
		"<a>\x01</a>",
		"<a>\xff</a>",
		"<a>\xc3</a>",
		"<a>\xc0\xaf</a>",
		"<a>\xed\xa0\x80</a>",
		"<a>\xef\xbf\xbf</a>",
		"<1a/>",
		"<a",
		"<a x='1",
		"</a>",
		"<a><?pi</a>",
	};
	struct xml_stats st;
	char err[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		if (!check(docs[i], &st, err, sizeof(err)))
			fail_msg("accepted bad document %zu: '%s'", i, docs[i]);
		assert_true(strncmp(err, "line ", 5) == 0);
	}
}

static void test_nul_byte(void **state)
{
	static const char doc[] = "<a>\0</a>";
	struct xml_stats st;
	char err[128];

	(void)state;
	assert_int_equal(xml_check(doc, sizeof(doc) - 1, &st, err, sizeof(err)),
			 -1);
}

static void test_stats(void **state)
{
	struct xml_stats st;
	char err[128];

	(void)state;
	assert_int_equal(check("<svg xmlns=\"http://www.w3.org/2000/svg\" "
			       "version=\"1.1\"><rect class=\"map\"/><g><rect "
			       "class=\"map\"><title>t</title></rect><rect "
			       "class=\"bin\"/></g></svg>",
			       &st, err, sizeof(err)),
			 0);
	assert_string_equal(st.root, "svg");
	assert_string_equal(st.root_xmlns, "http://www.w3.org/2000/svg");
	assert_string_equal(st.root_version, "1.1");
	assert_int_equal(st.elements, 6);
	assert_int_equal(count_of(&st, "rect"), 3);
	assert_int_equal(count_of(&st, "class=map"), 2);
	assert_int_equal(count_of(&st, "class=bin"), 1);
	assert_int_equal(count_of(&st, "title"), 1);
	assert_int_equal(count_of(&st, "circle"), 0);
}

static void test_error_line(void **state)
{
	struct xml_stats st;
	char err[128];

	(void)state;
	assert_int_equal(check("<a>\n<b>\n</c></a>", &st, err, sizeof(err)),
			 -1);
	assert_string_equal(err, "line 3: </c> closes <b>");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),	   cmocka_unit_test(test_bad),
		cmocka_unit_test(test_nul_byte),   cmocka_unit_test(test_stats),
		cmocka_unit_test(test_error_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
