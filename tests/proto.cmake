# Tests of the RESP codec (src/proto/). Included by tests/CMakeLists.txt.

dkv_test(test_resp unit SOURCES proto/test_resp.c LIBS dkv_proto)

# The fuzz target replayed over the committed corpus with any compiler:
# every seed input (and every crash ever found) stays a regression test.
add_executable(fuzz_resp_replay proto/fuzz_resp.c proto/fuzz_main.c)
target_link_libraries(fuzz_resp_replay PRIVATE dkv_proto)
add_test(NAME fuzz_resp_corpus
         COMMAND fuzz_resp_replay ${CMAKE_CURRENT_SOURCE_DIR}/proto/corpus)
set_tests_properties(fuzz_resp_corpus PROPERTIES LABELS unit TIMEOUT 300)

# The real libFuzzer binary (clang only):
#   CC=clang cmake -S . -B build-fuzz -DDKV_FUZZ=ON -DDKV_SANITIZE=ON
#   cmake --build build-fuzz --target fuzz_resp
#   ./build-fuzz/bin/fuzz_resp -max_len=4096 <scratch dir> tests/proto/corpus
# The codec's sources are compiled into it directly so that they carry the
# fuzzer's coverage instrumentation. See docs/proto.md.
option(DKV_FUZZ "Build the libFuzzer targets (needs clang)" OFF)
if(DKV_FUZZ)
  if(CMAKE_C_COMPILER_ID MATCHES "Clang")
    file(GLOB DKV_FUZZ_PROTO_SRC CONFIGURE_DEPENDS
         ${CMAKE_SOURCE_DIR}/src/proto/*.c)
    add_executable(fuzz_resp proto/fuzz_resp.c ${DKV_FUZZ_PROTO_SRC})
    target_compile_options(fuzz_resp PRIVATE
                           -fsanitize=fuzzer,address,undefined
                           -fno-omit-frame-pointer)
    target_link_options(fuzz_resp PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(fuzz_resp PRIVATE dkv_common)
  else()
    message(WARNING "DKV_FUZZ needs clang (CC=clang): fuzz_resp not built")
  endif()
endif()

# The transaction messages' wire codec (src/proto/txn_wire.c): cmocka test,
# the fuzz target replayed over its corpus with any compiler, and the real
# libFuzzer binary (clang only):
#   CC=clang cmake -S . -B build-fuzz -DDKV_FUZZ=ON -DDKV_SANITIZE=ON
#   cmake --build build-fuzz --target fuzz_txn_wire
#   ./build-fuzz/bin/fuzz_txn_wire -max_len=4096 <scratch dir> \
#       tests/proto/corpus_txn_wire
dkv_test(test_txn_wire unit SOURCES proto/test_txn_wire.c LIBS dkv_proto)

add_executable(fuzz_txn_wire_replay proto/fuzz_txn_wire.c proto/fuzz_main.c)
target_link_libraries(fuzz_txn_wire_replay PRIVATE dkv_proto)
add_test(NAME fuzz_txn_wire_corpus
         COMMAND fuzz_txn_wire_replay
                 ${CMAKE_CURRENT_SOURCE_DIR}/proto/corpus_txn_wire)
set_tests_properties(fuzz_txn_wire_corpus PROPERTIES LABELS unit TIMEOUT 300)

if(DKV_FUZZ)
  if(CMAKE_C_COMPILER_ID MATCHES "Clang")
    file(GLOB DKV_FUZZ_TXN_WIRE_SRC CONFIGURE_DEPENDS
         ${CMAKE_SOURCE_DIR}/src/proto/*.c)
    add_executable(fuzz_txn_wire proto/fuzz_txn_wire.c
                   ${DKV_FUZZ_TXN_WIRE_SRC})
    target_compile_options(fuzz_txn_wire PRIVATE
                           -fsanitize=fuzzer,address,undefined
                           -fno-omit-frame-pointer)
    target_link_options(fuzz_txn_wire PRIVATE
                        -fsanitize=fuzzer,address,undefined)
    target_link_libraries(fuzz_txn_wire PRIVATE dkv_common)
  else()
    message(WARNING "DKV_FUZZ needs clang (CC=clang): fuzz_txn_wire not built")
  endif()
endif()
