/* test_err.c — every error code has a unique name and a description. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kt_enc.h"
#include "kt_err.h"

static void test_every_code_is_described(void **state)
{
	int code, known = 0;

	(void)state;
	for (code = 0; code >= -1000; code--) {
		const char *name = kt_errname(code);
		int other;

		if (strcmp(name, "KT_ERR_UNKNOWN") == 0) {
			assert_string_equal(kt_strerror(code), "unknown error");
			continue;
		}
		known++;
		assert_string_not_equal(kt_strerror(code), "unknown error");
		for (other = code - 1; other >= -1000; other--)
			assert_string_not_equal(name, kt_errname(other));
	}
	assert_true(known > 40);
	assert_string_equal(kt_errname(KT_ERR_TRUNCATED), "KT_ERR_TRUNCATED");
}

static void test_writer_reader_roundtrip(void **state)
{
	kt_wbuf w;
	kt_rbuf r;
	uint8_t *out;
	size_t len, n;
	const uint8_t *p;
	static const uint8_t id[3] = {'a', 'b', 'c'};

	(void)state;
	kt_wbuf_init(&w, 64);
	kt_put_u8(&w, 0x01);
	kt_put_u16(&w, 0x0203);
	kt_put_u32(&w, 0x04050607);
	kt_put_u64(&w, 0x08090a0b0c0d0e0fULL);
	kt_put_vec8(&w, id, sizeof(id));
	assert_int_equal(kt_wbuf_take(&w, &out, &len), KT_OK);
	assert_int_equal(len, 1 + 2 + 4 + 8 + 1 + 3);
	assert_int_equal(out[0], 0x01);
	assert_int_equal(out[1], 0x02);
	assert_int_equal(out[15], 3);

	kt_rbuf_init(&r, out, len);
	assert_int_equal(kt_get_u8(&r), 0x01);
	assert_int_equal(kt_get_u16(&r), 0x0203);
	assert_int_equal(kt_get_u32(&r), 0x04050607);
	assert_true(kt_get_u64(&r) == 0x08090a0b0c0d0e0fULL);
	p = kt_get_vec8(&r, 1, 64, &n);
	assert_int_equal(n, 3);
	assert_memory_equal(p, id, 3);
	assert_int_equal(kt_rbuf_finish(&r), KT_OK);

	/* Forgery twins: a cap below the length, a truncation, trailing bytes. */
	kt_rbuf_init(&r, out + 15, 4);
	(void)kt_get_vec8(&r, 1, 2, &n);
	assert_int_equal(kt_rbuf_finish(&r), KT_ERR_TOO_LARGE);
	kt_rbuf_init(&r, out + 15, 3);
	(void)kt_get_vec8(&r, 1, 64, &n);
	assert_int_equal(kt_rbuf_finish(&r), KT_ERR_TRUNCATED);
	kt_rbuf_init(&r, out, len);
	(void)kt_get_u8(&r);
	assert_int_equal(kt_rbuf_finish(&r), KT_ERR_TRAILING);
	free(out);
}

static void test_writer_cap(void **state)
{
	kt_wbuf w;
	uint8_t big[32] = {0};
	uint8_t *out;
	size_t len;

	(void)state;
	kt_wbuf_init(&w, 16);
	kt_put_fixed(&w, big, sizeof(big));
	kt_put_u8(&w, 1);
	assert_int_equal(kt_wbuf_error(&w), KT_ERR_TOO_LARGE);
	assert_int_equal(kt_wbuf_take(&w, &out, &len), KT_ERR_TOO_LARGE);
	assert_null(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_code_is_described),
		cmocka_unit_test(test_writer_reader_roundtrip),
		cmocka_unit_test(test_writer_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
