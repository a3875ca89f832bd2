/*
 * kt_test_fs.c — file-system helpers shared by the tests.
 */
#define _GNU_SOURCE /* nftw's FTW_DEPTH and FTW_PHYS */
#include "kt_test_fs.h"

#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

static int rm_one(const char *path, const struct stat *sb, int flag,
		  struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	(void)remove(path); /* on: remove what can be removed */
	return 0;
}

void kt_test_rm_tree(const char *dir)
{
	(void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
