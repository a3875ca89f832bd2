/*
 * file_int.h — file writes of libkeytrail (kt_file.c); inside client/ only.
 */
#ifndef KT_CLIENT_FILE_INT_H
#define KT_CLIENT_FILE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "kt_err.h"

/* Replaces path atomically with p[0..len): a temporary file
 * "<path>.tmpXXXXXX" in the same directory (mode 0600), fsync, rename over
 * path, fsync of the directory.  KT_ERR_IO leaves path as it was (the
 * temporary file is removed); KT_ERR_INVALID_ARG. */
KT_MUST_CHECK int kt_write_file_atomic(const char *path, const uint8_t *p,
				       size_t len);

/* Creates a NEW file at path (O_EXCL, O_NOFOLLOW, mode 0600), writes
 * p[0..len), fsyncs it and its directory.  KT_ERR_IO (exists, cannot
 * write; a partial file is removed). */
KT_MUST_CHECK int kt_write_file_excl(const char *path, const uint8_t *p,
				     size_t len);

/* fsync of the directory that holds path.  KT_ERR_IO. */
KT_MUST_CHECK int kt_fsync_dir(const char *path);

#endif /* KT_CLIENT_FILE_INT_H */
