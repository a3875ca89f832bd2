/*
 * admin.c — ktctl's admin token file reader (docs/OPERATIONS.md "Admin
 * credential").  The Admin call itself is libkeytrail's
 * (kt_client_admin_update).
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "ktctl_int.h"

#define TOKEN_FILE_MAX 4096

int ktctl_admin_token_read(const char *path, char out[65])
{
	char buf[TOKEN_FILE_MAX];
	struct stat st;
	ssize_t n;
	size_t i;
	int fd, r;

	memset(out, 0, 65);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return KT_ERR_IO;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return KT_ERR_IO;
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		close(fd);
		return KT_ERR_CLIENT_KEY_FILE;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0)
		return KT_ERR_IO;
	r = KT_ERR_CLIENT_KEY_FILE;
	if (n < 64 || (n > 64 && buf[64] != '\n' && buf[64] != '\r'))
		goto out;
	for (i = 0; i < 64; i++)
		if (!((buf[i] >= '0' && buf[i] <= '9') ||
		      (buf[i] >= 'a' && buf[i] <= 'f') ||
		      (buf[i] >= 'A' && buf[i] <= 'F')))
			goto out;
	memcpy(out, buf, 64);
	out[64] = '\0';
	r = KT_OK;
out:
	sodium_memzero(buf, sizeof(buf));
	return r;
}
