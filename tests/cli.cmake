# Tests of the dkv tool (src/cli/). Included by tests/CMakeLists.txt.
# Label "integration": it starts real dkvd processes (and stops them).
if(TARGET dkv_cli AND TARGET dkvd)
  add_test(NAME test_cli
    COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/cli/test_cli.sh
            $<TARGET_FILE:dkv_cli> $<TARGET_FILE:dkvd>)
  set_tests_properties(test_cli PROPERTIES LABELS integration TIMEOUT 120
    ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1")
endif()
