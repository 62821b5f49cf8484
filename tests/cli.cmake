# Tests of the dkv tool (src/cli/). Included by tests/CMakeLists.txt.
# Label "integration": it starts real dkvd processes (and stops them).
if(TARGET dkv_cli AND TARGET dkvd)
  add_test(NAME test_cli
    COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/cli/test_cli.sh
            $<TARGET_FILE:dkv_cli> $<TARGET_FILE:dkvd>)
  set_tests_properties(test_cli PROPERTIES LABELS integration TIMEOUT 120
    ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1")
endif()

# Snapshots through the tool (tests/integration/test_snapshot_cli.py): two
# clusters of real dkvd processes, create / list / show / destroy, get and
# range --at, diff, export, import into another shard count and family,
# damaged exports refused.
if(TARGET dkv_cli AND TARGET dkvd)
  add_test(NAME integration_test_snapshot_cli
    COMMAND /usr/bin/python3
            ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_snapshot_cli.py)
  set_tests_properties(integration_test_snapshot_cli PROPERTIES
    LABELS integration TIMEOUT 300
    ENVIRONMENT "DKVD=$<TARGET_FILE:dkvd>;DKV=$<TARGET_FILE:dkv_cli>;PYTHONDONTWRITEBYTECODE=1")
endif()
