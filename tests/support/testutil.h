/*
 * Helpers shared by the unit tests: scratch directories and files, child
 * processes and descriptors left over. They
 * fail the running cmocka test on any error. Include after <cmocka.h>.
 */
#ifndef LLEM_TESTUTIL_H
#define LLEM_TESTUTIL_H

/* A new directory "/tmp/llem-test-<tag>-XXXXXX"; free() the result. */
char *test_tmpdir(const char *tag);
/* Removes a scratch directory tree (rm -rf through argv, no shell). */
void test_rm_rf(const char *dir);
/* Creates or replaces path with text. */
void test_write_text(const char *path, const char *text);
/* Processes (zombies included) whose parent is this test, each named on
 * stderr: there must be none after a test of child processes. */
int test_count_children(void);
/* Open descriptors of this process (the count's own excluded). */
int test_count_fds(void);

#endif
