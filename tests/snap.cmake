# The snapshot manager's tests (src/snap/, docs/snap.md). Included by
# tests/CMakeLists.txt. The real-process test is in tests/server.cmake.

dkv_test(test_snap_catalog unit SOURCES snap/test_catalog.c LIBS dkv_snap)
