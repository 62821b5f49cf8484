/* tmpdir.h - scratch directories for tests, removed with their contents. */
#ifndef DKV_TEST_TMPDIR_H
#define DKV_TEST_TMPDIR_H
#include <stddef.h>
/* Creates a fresh directory under $TMPDIR (or /tmp); path written to buf. */
int test_tmpdir_make(char *buf, size_t len);
/* Removes a directory tree (like rm -rf). */
void test_tmpdir_remove(const char *path);
#endif
