/*
 * kt_file.c — the file helpers of libkeytrail: bounded whole-file reads,
 * secret files (permission check), atomic replacement, the state lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "client_int.h"
#include "file_int.h"

/* Reads fd to the end, at most max bytes (one byte more is an error). */
static int read_fd(int fd, size_t max, uint8_t **out, size_t *out_len)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t cap, len = 0;
	int r;

	if (fstat(fd, &st) != 0)
		return KT_ERR_IO;
	if (!S_ISREG(st.st_mode))
		return KT_ERR_IO;
	if ((uint64_t)st.st_size > max)
		return KT_ERR_TOO_LARGE;
	cap = (size_t)st.st_size + 1;
	buf = malloc(cap);
	if (buf == NULL)
		return KT_ERR_NOMEM;
	for (;;) {
		ssize_t n = read(fd, buf + len, cap - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = KT_ERR_IO;
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == cap) {
			/* The file grew: refuse rather than chase it. */
			r = KT_ERR_TOO_LARGE;
			goto fail;
		}
	}
	*out = buf;
	*out_len = len;
	return KT_OK;
fail:
	sodium_memzero(buf, cap);
	free(buf);
	return r;
}

int kt_read_file(const char *path, size_t max, uint8_t **out, size_t *out_len)
{
	int fd, r;

	if (out == NULL || out_len == NULL)
		return KT_ERR_INVALID_ARG;
	*out = NULL;
	*out_len = 0;
	if (path == NULL)
		return KT_ERR_INVALID_ARG;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return errno == ENOENT ? KT_ERR_NOT_FOUND : KT_ERR_IO;
	r = read_fd(fd, max, out, out_len);
	close(fd);
	return r;
}

int kt_read_secret_file(const char *path, size_t max, uint8_t **out,
			size_t *out_len)
{
	struct stat st;
	int fd, r;

	if (out == NULL || out_len == NULL)
		return KT_ERR_INVALID_ARG;
	*out = NULL;
	*out_len = 0;
	if (path == NULL)
		return KT_ERR_INVALID_ARG;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0)
		return errno == ELOOP ? KT_ERR_CLIENT_KEY_FILE : KT_ERR_IO;
	if (fstat(fd, &st) != 0) {
		r = KT_ERR_IO;
		goto out;
	}
	/* A secret must be a regular file that only its owner can touch. */
	if (!S_ISREG(st.st_mode) || (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		r = KT_ERR_CLIENT_KEY_FILE;
		goto out;
	}
	r = read_fd(fd, max, out, out_len);
out:
	close(fd);
	return r;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return KT_ERR_IO;
		p += n;
		len -= (size_t)n;
	}
	return KT_OK;
}

/* The directory part of path ("." if none) into dir[cap]. */
static int dir_of(const char *path, char *dir, size_t cap)
{
	const char *slash = strrchr(path, '/');
	size_t n;

	if (slash == NULL) {
		snprintf(dir, cap, ".");
		return KT_OK;
	}
	n = slash == path ? 1 : (size_t)(slash - path);
	if (n >= cap)
		return KT_ERR_INVALID_ARG;
	memcpy(dir, path, n);
	dir[n] = '\0';
	return KT_OK;
}

int kt_fsync_dir(const char *path)
{
	char dir[PATH_MAX];
	int fd, r;

	r = dir_of(path, dir, sizeof(dir));
	if (r != KT_OK)
		return r;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return KT_ERR_IO;
	r = fsync(fd) == 0 ? KT_OK : KT_ERR_IO;
	close(fd);
	return r;
}

int kt_write_file_atomic(const char *path, const uint8_t *p, size_t len)
{
	char tmp[PATH_MAX];
	int fd = -1, r;

	if (path == NULL || (p == NULL && len > 0))
		return KT_ERR_INVALID_ARG;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmpXXXXXX", path) >= sizeof(tmp))
		return KT_ERR_INVALID_ARG;
	fd = mkstemp(tmp); /* same directory, mode 0600, O_EXCL */
	if (fd < 0)
		return KT_ERR_IO;
	r = fchmod(fd, 0600) == 0 ? KT_OK : KT_ERR_IO;
	if (r == KT_OK)
		r = write_all(fd, p, len);
	if (r == KT_OK && fsync(fd) != 0)
		r = KT_ERR_IO;
	if (close(fd) != 0 && r == KT_OK)
		r = KT_ERR_IO;
	if (r == KT_OK && rename(tmp, path) != 0)
		r = KT_ERR_IO;
	if (r != KT_OK) {
		unlink(tmp);
		return r;
	}
	return kt_fsync_dir(path);
}

int kt_write_file_excl(const char *path, const uint8_t *p, size_t len)
{
	int fd, r;

	if (path == NULL || (p == NULL && len > 0))
		return KT_ERR_INVALID_ARG;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return KT_ERR_IO;
	/* The umask may only remove bits; make sure nothing else is set. */
	r = fchmod(fd, 0600) == 0 ? KT_OK : KT_ERR_IO;
	if (r == KT_OK)
		r = write_all(fd, p, len);
	if (r == KT_OK && fsync(fd) != 0)
		r = KT_ERR_IO;
	if (close(fd) != 0 && r == KT_OK)
		r = KT_ERR_IO;
	if (r != KT_OK) {
		unlink(path);
		return r;
	}
	return kt_fsync_dir(path);
}

int kt_state_lock(const char *path, int *fd)
{
	char lp[PATH_MAX];
	int f;

	*fd = -1;
	if ((size_t)snprintf(lp, sizeof(lp), "%s.lock", path) >= sizeof(lp))
		return KT_ERR_INVALID_ARG;
	f = open(lp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (f < 0)
		return KT_ERR_IO;
	while (flock(f, LOCK_EX) != 0) {
		if (errno != EINTR) {
			close(f);
			return KT_ERR_IO;
		}
	}
	*fd = f;
	return KT_OK;
}

void kt_state_unlock(int fd)
{
	if (fd < 0)
		return;
	(void)flock(fd, LOCK_UN);
	close(fd);
}
