/* dkvd configuration: defaults, file < environment < flags, validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "dkv_err.h"
#include "server/config.h"
#include "../unit/tmpdir.h"

static void defaults_are_valid_and_loopback(void **state)
{
	struct dkv_config c;
	char err[256];

	(void)state;
	dkv_config_defaults(&c);
	assert_int_equal(dkv_config_validate(&c, err, sizeof(err)), 0);
	assert_string_equal(c.host, "127.0.0.1");
	assert_int_equal(c.port, 7379);
	assert_int_equal(c.durability, DKV_CONFIG_GROUP);
	assert_int_equal(c.max_value, 64u << 20);
}

static void file_then_env_then_flags(void **state)
{
	char dir[256], path[300], err[256];
	struct dkv_config c;
	FILE *f;
	char e1[] = "DKV_NODE_ID=7", e2[] = "DKV_STORE_DURABILITY=fsync";
	char e3[] = "PATH=/bin";
	char *env[] = { e1, e2, e3, NULL };

	(void)state;
	assert_int_equal(test_tmpdir_make(dir, sizeof(dir)), 0);
	snprintf(path, sizeof(path), "%s/dkvd.ini", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "; a comment\n[node]\nid = 3\nlisten = 127.0.0.2:9000\n"
		   "[store]\ndurability = none\ncache_mb = 16\n");
	fclose(f);

	dkv_config_defaults(&c);
	assert_int_equal(dkv_config_load_file(&c, path, err, sizeof(err)), 0);
	assert_int_equal(c.node_id, 3);
	assert_int_equal(c.cache_mb, 16);
	assert_int_equal(c.durability, DKV_CONFIG_NONE);
	assert_int_equal(dkv_config_load_env(&c, env, err, sizeof(err)), 0);
	assert_int_equal(c.node_id, 7);
	assert_int_equal(c.durability, DKV_CONFIG_FSYNC);
	assert_int_equal(dkv_config_set(&c, "node-id", "9", "flag", err,
					sizeof(err)),
			 0);
	assert_int_equal(dkv_config_set(&c, "store-write-buffer-mb", "32",
					"flag", err, sizeof(err)),
			 0);
	assert_int_equal(c.node_id, 9);
	assert_int_equal(c.write_buffer_mb, 32);
	assert_int_equal(dkv_config_validate(&c, err, sizeof(err)), 0);
	assert_string_equal(c.host, "127.0.0.2");
	assert_int_equal(c.port, 9000);
	test_tmpdir_remove(dir);
}

static void bad_values_are_named(void **state)
{
	char dir[256], path[300], err[256];
	struct dkv_config c;
	FILE *f;

	(void)state;
	dkv_config_defaults(&c);
	assert_int_equal(dkv_config_set(&c, "node.id", "x1", "flag", err,
					sizeof(err)),
			 DKV_ERR_INVAL);
	assert_non_null(strstr(err, "node.id"));
	assert_int_equal(dkv_config_set(&c, "node.id", "99999999999", "flag",
					err, sizeof(err)),
			 DKV_ERR_INVAL);
	assert_int_equal(dkv_config_set(&c, "store.durability", "sometimes",
					"flag", err, sizeof(err)),
			 DKV_ERR_INVAL);
	assert_int_equal(dkv_config_set(&c, "no.such", "1", "flag", err,
					sizeof(err)),
			 DKV_ERR_NOT_FOUND);

	assert_int_equal(test_tmpdir_make(dir, sizeof(dir)), 0);
	snprintf(path, sizeof(path), "%s/bad.ini", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "[node]\nid = 2\n[store]\nflavour = mint\n");
	fclose(f);
	assert_int_equal(dkv_config_load_file(&c, path, err, sizeof(err)),
			 DKV_ERR_NOT_FOUND);
	assert_non_null(strstr(err, ":4:")); /* the line is named */
	assert_int_equal(dkv_config_load_file(&c, "/nonexistent/x.ini", err,
					      sizeof(err)),
			 DKV_ERR_IO);
	test_tmpdir_remove(dir);
}

static void public_address_needs_a_password(void **state)
{
	struct dkv_config c;
	char err[256];

	(void)state;
	dkv_config_defaults(&c);
	assert_int_equal(dkv_config_set(&c, "node.listen", "0.0.0.0:7379",
					"flag", err, sizeof(err)),
			 0);
	assert_int_equal(dkv_config_validate(&c, err, sizeof(err)),
			 DKV_ERR_AUTH);
	assert_non_null(strstr(err, "password"));
	assert_int_equal(dkv_config_set(&c, "node.password", "s3cret", "flag",
					err, sizeof(err)),
			 0);
	assert_int_equal(dkv_config_validate(&c, err, sizeof(err)), 0);
	/* IPv6 loopback needs none. */
	dkv_config_defaults(&c);
	assert_int_equal(dkv_config_set(&c, "node.listen", "[::1]:7000",
					"flag", err, sizeof(err)),
			 0);
	assert_int_equal(dkv_config_validate(&c, err, sizeof(err)), 0);
	assert_string_equal(c.host, "::1");
	assert_int_equal(dkv_config_set(&c, "node.listen", "127.0.0.1:0",
					"flag", err, sizeof(err)),
			 0);
	assert_int_equal(dkv_config_validate(&c, err, sizeof(err)),
			 DKV_ERR_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_are_valid_and_loopback),
		cmocka_unit_test(file_then_env_then_flags),
		cmocka_unit_test(bad_values_are_named),
		cmocka_unit_test(public_address_needs_a_password),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
