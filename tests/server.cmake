dkv_test(test_config unit SOURCES server/test_config.c unit/tmpdir.c LIBS dkv_server)
dkv_test(test_apply unit SOURCES server/test_apply.c unit/tmpdir.c LIBS dkv_server)
dkv_test(test_rcache unit SOURCES server/test_rcache.c LIBS dkv_server)

# Integration tests: real dkvd processes on 127.0.0.1, driven by
# python3-redis, redis-cli and raw sockets (Debian's /usr/bin/python3).
if(TARGET dkvd)
  foreach(t test_cluster test_redis_compat test_auth test_txn_node test_multi_exec
          test_bank_nemesis test_snapshot test_snapshot_gc test_gc
          test_watch_inflight test_disk_failure
          test_clock_fence)
    add_test(NAME integration_${t}
             COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/${t}.py)
    set_tests_properties(integration_${t} PROPERTIES
      LABELS integration TIMEOUT 300
      ENVIRONMENT "DKVD=$<TARGET_FILE:dkvd>;PYTHONDONTWRITEBYTECODE=1")
  endforeach()
endif()
