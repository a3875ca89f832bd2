/*
 * kt_test_fs.h — file-system helpers shared by the tests.
 */
#ifndef KT_TEST_FS_H
#define KT_TEST_FS_H

/* Removes dir and everything below it (symbolic links are removed, not
 * followed); errors are ignored (a test's clean-up).  dir may be missing. */
void kt_test_rm_tree(const char *dir);

#endif /* KT_TEST_FS_H */
