dkv_test(test_config unit SOURCES server/test_config.c unit/tmpdir.c LIBS dkv_server)
dkv_test(test_apply unit SOURCES server/test_apply.c unit/tmpdir.c LIBS dkv_server)
