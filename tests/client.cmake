# Tests of libdkv (src/client/, include/dkv.h). Included by
# tests/CMakeLists.txt. Label "integration": they start real dkvd processes.

# Transactions (src/client/tx*.c) against the real shard side of the
# transaction core in process (a fake node transport over
# tests/txn/fake_io.c's store): label unit, no dkvd.
if(TARGET dkv_client_static)
  dkv_test(test_tx_unit unit TIMEOUT 120
    SOURCES client/test_tx_unit.c txn/fake_io.c
    LIBS dkv_client_static dkv_txn dkv_hlc dkv_proto dkv_shard
         Threads::Threads)
  target_include_directories(test_tx_unit PRIVATE
    ${CMAKE_CURRENT_SOURCE_DIR}/txn)
endif()
if(TARGET dkv_client AND TARGET dkvd)
  dkv_test(test_client integration TIMEOUT 120
    SOURCES client/test_client.c client/cluster.c client/fake.c
            unit/tmpdir.c
    LIBS dkv_client dkv_shard dkv_proto Threads::Threads)
  add_dependencies(test_client dkvd)
  target_compile_definitions(test_client PRIVATE
    DKV_TEST_DKVD="$<TARGET_FILE:dkvd>")

  # Only DKV_API symbols leave libdkv.so; SONAME libdkv.so.0.
  add_test(NAME test_client_symbols
    COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/client/check_symbols.sh
            $<TARGET_FILE:dkv_client> ${PROJECT_SOURCE_DIR}/include)
  set_tests_properties(test_client_symbols PROPERTIES
    LABELS unit TIMEOUT 60)
  # `cmake --build <dir> --target test_client_symbols` builds what it checks.
  add_custom_target(test_client_symbols)
  add_dependencies(test_client_symbols dkv_client)

  # Install into a temporary prefix and build a program against it with
  # pkg-config, as a user of the library would.
  add_test(NAME test_client_install
    COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/client/install_test.sh
            ${CMAKE_BINARY_DIR} ${CMAKE_C_COMPILER}
            "$<BOOL:${DKV_SANITIZE}>")
  set_tests_properties(test_client_install PROPERTIES
    LABELS integration TIMEOUT 120)
endif()
