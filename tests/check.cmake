# The history checker (tests/check/, docs/histcheck.md): a library for
# transaction tests (simulated and with real processes), the
# dkv-histcheck tool, and their unit test. Included by tests/CMakeLists.txt.

# Imported targets are scoped to their directory: src/'s is not seen here.
if(NOT TARGET PkgConfig::JANSSON)
  pkg_check_modules(JANSSON REQUIRED IMPORTED_TARGET jansson)
endif()

# What both checkers share (arrays, errors, bounded file reading).
add_library(dkv_checkutil STATIC check/check_util.c)
target_link_libraries(dkv_checkutil PUBLIC dkv_common)

add_library(dkv_histcheck STATIC check/histcheck.c check/histcheck_json.c)
target_include_directories(dkv_histcheck PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/check)
target_link_libraries(dkv_histcheck PUBLIC dkv_checkutil PkgConfig::JANSSON)

add_executable(dkv-histcheck check/dkv_histcheck.c)
target_link_libraries(dkv-histcheck PRIVATE dkv_histcheck)

# The register linearizability checker (docs/lincheck.md), its tool, its test.
add_library(dkv_lincheck STATIC check/lincheck.c check/lincheck_json.c)
target_include_directories(dkv_lincheck PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/check)
target_link_libraries(dkv_lincheck PUBLIC dkv_checkutil PkgConfig::JANSSON)

add_executable(dkv-lincheck check/dkv_lincheck.c)
target_link_libraries(dkv-lincheck PRIVATE dkv_lincheck)

dkv_test(test_histcheck unit SOURCES check/test_histcheck.c unit/tmpdir.c
  LIBS dkv_histcheck)
add_dependencies(test_histcheck dkv-histcheck)
target_compile_definitions(test_histcheck PRIVATE
  DKV_TEST_HISTCHECK="$<TARGET_FILE:dkv-histcheck>")

dkv_test(test_lincheck unit SOURCES check/test_lincheck.c unit/tmpdir.c
  LIBS dkv_lincheck)
add_dependencies(test_lincheck dkv-lincheck)
target_compile_definitions(test_lincheck PRIVATE
  DKV_TEST_LINCHECK="$<TARGET_FILE:dkv-lincheck>")
