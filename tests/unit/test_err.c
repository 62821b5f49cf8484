/* The error space: every code is negative, unique, named and described. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "dkv_err.h"

static void every_code_is_negative_unique_and_described(void **state)
{
	static const int codes[] = {
#define C_(name, val, text) DKV_ERR_##name,
		DKV_FOREACH_ERR(C_)
#undef C_
	};
	size_t n = sizeof(codes) / sizeof(codes[0]);

	(void)state;
	for (size_t i = 0; i < n; i++) {
		assert_true(codes[i] < 0);
		assert_string_not_equal(dkv_strerror(codes[i]), "unknown error");
		assert_string_not_equal(dkv_errname(codes[i]), "UNKNOWN");
		for (size_t j = i + 1; j < n; j++)
			assert_int_not_equal(codes[i], codes[j]);
	}
	assert_string_equal(dkv_strerror(DKV_OK), "success");
	assert_string_equal(dkv_strerror(-9999), "unknown error");
	assert_string_equal(dkv_errname(DKV_ERR_EPOCH_TOO_OLD), "EPOCH_TOO_OLD");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_code_is_negative_unique_and_described),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
