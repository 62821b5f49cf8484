# The sharding manager's tests (src/shard/). Included by tests/CMakeLists.txt.

# The example custom sharding function (examples/custom_shard/) and the
# misbehaving ones of the tests, as dlopen-able modules.
add_library(dkv_example_shardfn MODULE
  ${PROJECT_SOURCE_DIR}/examples/custom_shard/prefix_shard.c)
set_target_properties(dkv_example_shardfn PROPERTIES
  PREFIX "" OUTPUT_NAME prefix_shard)
add_library(dkv_test_bad_shardfn MODULE shard/bad_shardfn.c)
set_target_properties(dkv_test_bad_shardfn PROPERTIES
  PREFIX "" OUTPUT_NAME bad_shardfn)

dkv_test(test_shard unit SOURCES shard/test_shard.c LIBS dkv_shard m)
add_dependencies(test_shard dkv_example_shardfn dkv_test_bad_shardfn)
target_compile_definitions(test_shard PRIVATE
  DKV_TEST_PREFIX_SO="$<TARGET_FILE:dkv_example_shardfn>"
  DKV_TEST_BAD_SO="$<TARGET_FILE:dkv_test_bad_shardfn>")
# Counts allocations to check that lookups never allocate.
target_link_options(test_shard PRIVATE
  -Wl,--wrap=malloc -Wl,--wrap=calloc -Wl,--wrap=realloc)
