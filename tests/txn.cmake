# The transaction manager's tests (src/txn/, docs/txn.md). Included by
# tests/CMakeLists.txt. Unit tests (label unit) and the deterministic
# simulation (label sim); every one links dkv_txn.

dkv_test(test_txn_record unit SOURCES txn/test_record.c LIBS dkv_txn)
dkv_test(test_txn_intent unit SOURCES txn/test_intent.c LIBS dkv_txn)
dkv_test(test_txn_part unit SOURCES txn/test_part.c txn/fake_io.c
  LIBS dkv_txn dkv_hlc)
dkv_test(test_txn_coord unit SOURCES txn/test_coord.c txn/fake_io.c
  LIBS dkv_txn dkv_hlc)

# The simulation: 1000 seeds by default, 300 under the sanitizers (set
# here, so ctest's environment wins; run the binary itself with
# DKV_SIM_SEEDS, DKV_SEED, DKV_SIM_WORK_MS for other runs: tests/sim/test_sim.c).
dkv_test(test_txn_sim sim TIMEOUT 900
  SOURCES sim/test_sim.c sim/sim_core.c sim/sim_store.c sim/sim_node.c
          sim/sim_client.c sim/sim_check.c
  LIBS dkv_txn dkv_hlc dkv_histcheck)
target_include_directories(test_txn_sim PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/sim)
if(DKV_SANITIZE)
  set_tests_properties(test_txn_sim PROPERTIES ENVIRONMENT "DKV_SIM_SEEDS=300")
endif()
