/*
 * keys.c — the node's key material: loading key files (refusing files that
 * others can read), parsing the configured registrar and witness keys,
 * generating key files (`ktd keygen`, and dev mode's first start).
 *
 * File formats (docs/OPERATIONS.md "Keys", docs/PROTOCOL.md §9):
 *   log key     one line: the C2SP signer key string
 *               "PRIVATE+KEY+<origin>+<8 hex key hash>+<base64(0x01||seed)>";
 *               its name must equal the configured origin
 *   VRF key     one line: "KT-VRF-SEED+" base64(32-byte seed), padded
 *   admin token one line: 64 hex digits (32 bytes)
 *   registrar   (dev mode's registrar.key, keygen) a signer key string
 * Each file may end in one '\n'; nothing else may follow.  A key file must
 * be a regular file with no permission bits for group or others.
 */
#include "node.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "kt_note.h"

#define KEY_FILE_MAX 4096u               /* largest key file read */
#define VRF_PREFIX "KT-VRF-SEED+"
#define VRF_PREFIX_LEN (sizeof(VRF_PREFIX) - 1)
#define SEED_B64_LEN 44                  /* padded base64 of 32 bytes */
#define ADMIN_HEX_LEN (2 * KT_ADMIN_TOKEN_BYTES)
#define PATH_BYTES 4096

void kt_node_keys_wipe(kt_node_keys *k)
{
	if (k != NULL)
		sodium_memzero(k, sizeof(*k));
}

/* ---- files ------------------------------------------------------------------ */

/* Reads a key file into buf (cap bytes, NUL-terminated, one trailing '\n'
 * dropped).  Refuses anything but a regular file of mode 0600/0400. */
static int read_key_file(const char *what, const char *path, char *buf,
			 size_t cap, size_t *len, char *err, size_t errlen)
{
	struct stat sb;
	size_t got = 0;
	int fd, r = KT_ERR_KEYS;

	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		kt_err_format(err, errlen, "%s %s: %s", what, path, strerror(errno));
		return KT_ERR_KEYS;
	}
	if (fstat(fd, &sb) != 0) {
		kt_err_format(err, errlen, "%s %s: %s", what, path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		kt_err_format(err, errlen, "%s %s: not a regular file", what, path);
		goto out;
	}
	if ((sb.st_mode & 077) != 0) {
		kt_err_format(err, errlen,
		     "%s %s: mode %04o lets group or others access a secret "
		     "key; run chmod 600 on it",
		     what, path, (unsigned)(sb.st_mode & 07777));
		goto out;
	}
	if (sb.st_size < 0 || (uint64_t)sb.st_size >= cap) {
		kt_err_format(err, errlen, "%s %s: larger than %zu bytes", what, path,
		     cap - 1);
		goto out;
	}
	while (got < cap - 1) {
		ssize_t n = read(fd, buf + got, cap - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			kt_err_format(err, errlen, "%s %s: %s", what, path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > 0 && buf[got - 1] == '\n')
		got--;
	buf[got] = '\0';
	if (memchr(buf, '\n', got) != NULL || memchr(buf, '\0', got) != NULL) {
		kt_err_format(err, errlen, "%s %s: must be exactly one line", what, path);
		goto out;
	}
	*len = got;
	r = KT_OK;
out:
	close(fd);
	if (r != KT_OK)
		sodium_memzero(buf, cap);
	return r;
}

/* Creates path (which must not exist) with mode 0600 and writes data. */
static int write_key_file(const char *path, const char *data, size_t len,
			  char *err, size_t errlen)
{
	size_t off = 0;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0) {
		kt_err_format(err, errlen, "%s: %s%s", path, strerror(errno),
		     errno == EEXIST ? " (refusing to overwrite a key file)" : "");
		return KT_ERR_KEYS;
	}
	if (fchmod(fd, 0600) != 0)
		goto fail;
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		off += (size_t)n;
	}
	if (fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	return KT_OK;
fail:
	kt_err_format(err, errlen, "%s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(path);
	return KT_ERR_KEYS;
}

static int file_exists(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0;
}

/* ---- formats ------------------------------------------------------------------ */

/* "KT-VRF-SEED+" base64(seed), strict and canonical. */
static int vrf_seed_parse(const char *s, size_t len,
			  uint8_t seed[KT_VRF_SEED_BYTES])
{
	char again[SEED_B64_LEN + 1];
	size_t got = 0;
	const char *end = NULL;
	int r = KT_ERR_KEYS;

	if (len != VRF_PREFIX_LEN + SEED_B64_LEN ||
	    memcmp(s, VRF_PREFIX, VRF_PREFIX_LEN) != 0)
		return KT_ERR_KEYS;
	if (sodium_base642bin(seed, KT_VRF_SEED_BYTES, s + VRF_PREFIX_LEN,
			      SEED_B64_LEN, NULL, &got, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    got != KT_VRF_SEED_BYTES || end != s + len)
		goto out;
	/* canonical: the unused bits are zero (re-encoding gives the input) */
	sodium_bin2base64(again, sizeof(again), seed, KT_VRF_SEED_BYTES,
			  sodium_base64_VARIANT_ORIGINAL);
	if (sodium_memcmp(again, s + VRF_PREFIX_LEN, SEED_B64_LEN) == 0)
		r = KT_OK;
out:
	sodium_memzero(again, sizeof(again));
	if (r != KT_OK)
		sodium_memzero(seed, KT_VRF_SEED_BYTES);
	return r;
}

static int admin_token_parse(const char *s, size_t len,
			     uint8_t tok[KT_ADMIN_TOKEN_BYTES])
{
	size_t got = 0;
	const char *end = NULL;

	if (len != ADMIN_HEX_LEN ||
	    sodium_hex2bin(tok, KT_ADMIN_TOKEN_BYTES, s, len, NULL, &got,
			   &end) != 0 ||
	    got != KT_ADMIN_TOKEN_BYTES || end != s + len) {
		sodium_memzero(tok, KT_ADMIN_TOKEN_BYTES);
		return KT_ERR_KEYS;
	}
	return KT_OK;
}

/* ---- loading ------------------------------------------------------------------- */

static int load_log_key(const char *path, const char *origin, kt_node_keys *k,
			char *err, size_t errlen)
{
	char buf[KEY_FILE_MAX];
	size_t len = 0;
	int r;

	r = read_key_file("log_key_file", path, buf, sizeof(buf), &len, err,
			  errlen);
	if (r != KT_OK)
		return r;
	r = kt_note_signer_parse(&k->log_signer, buf, len);
	sodium_memzero(buf, sizeof(buf));
	if (r != KT_OK) {
		kt_err_format(err, errlen, "log_key_file %s: not a signer key string "
		     "PRIVATE+KEY+<origin>+<hash>+<key> (%s)", path, kt_strerror(r));
		return KT_ERR_KEYS;
	}
	if (k->log_signer.pub.type != KT_NOTE_KEY_ED25519) {
		kt_err_format(err, errlen, "log_key_file %s: key type %u, want 1 (Ed25519)",
		     path, (unsigned)k->log_signer.pub.type);
		return KT_ERR_KEYS;
	}
	/* public names: strcmp is fine */
	if (strcmp(k->log_signer.pub.name, origin) != 0) {
		kt_err_format(err, errlen, "log_key_file %s: the key is named '%s' but the "
		     "origin is '%s'; they must be equal", path,
		     k->log_signer.pub.name, origin);
		return KT_ERR_KEYS;
	}
	return KT_OK;
}

static int load_vrf_key(const char *path, kt_node_keys *k, char *err,
			size_t errlen)
{
	char buf[KEY_FILE_MAX];
	uint8_t seed[KT_VRF_SEED_BYTES];
	size_t len = 0;
	int r;

	r = read_key_file("vrf_key_file", path, buf, sizeof(buf), &len, err,
			  errlen);
	if (r != KT_OK)
		return r;
	r = vrf_seed_parse(buf, len, seed);
	sodium_memzero(buf, sizeof(buf));
	if (r == KT_OK)
		r = kt_vrf_keypair_from_seed(k->vrf_pk, k->vrf_sk, seed);
	sodium_memzero(seed, sizeof(seed));
	if (r != KT_OK) {
		kt_err_format(err, errlen, "vrf_key_file %s: not one line "
		     VRF_PREFIX "<base64 of a 32-byte seed>", path);
		return KT_ERR_KEYS;
	}
	return KT_OK;
}

static int load_admin_token(const char *path, kt_node_keys *k, char *err,
			    size_t errlen)
{
	char buf[KEY_FILE_MAX];
	size_t len = 0;
	int r;

	r = read_key_file("admin_token_file", path, buf, sizeof(buf), &len, err,
			  errlen);
	if (r != KT_OK)
		return r;
	r = admin_token_parse(buf, len, k->admin_token);
	sodium_memzero(buf, sizeof(buf));
	if (r != KT_OK) {
		kt_err_format(err, errlen, "admin_token_file %s: not one line of %d hex "
		     "digits", path, ADMIN_HEX_LEN);
		return KT_ERR_KEYS;
	}
	k->has_admin_token = 1;
	return KT_OK;
}

/* Adds a registrar key unless it is configured already. */
static int add_registrar(kt_node_keys *k, const uint8_t pk[KT_NOTE_PK_BYTES])
{
	size_t i;

	for (i = 0; i < k->n_registrars; i++)
		if (memcmp(k->registrars[i].pk, pk, KT_ED25519_PK_BYTES) == 0)
			return KT_OK; /* public keys: memcmp is fine */
	if (k->n_registrars == KT_NODE_MAX_REGISTRARS)
		return KT_ERR_TOO_LARGE;
	k->registrars[k->n_registrars].type = KT_SIGN_KEY_ED25519;
	memcpy(k->registrars[k->n_registrars].pk, pk, KT_ED25519_PK_BYTES);
	k->n_registrars++;
	return KT_OK;
}

static int load_registrars(const kt_config *cfg, kt_node_keys *k, char *err,
			   size_t errlen)
{
	kt_note_verifier v;
	size_t i;
	int r;

	for (i = 0; i < cfg->registrar.n; i++) {
		const char *s = cfg->registrar.items[i];

		r = kt_note_verifier_parse(&v, s, strlen(s));
		if (r == KT_OK && v.type != KT_NOTE_KEY_ED25519)
			r = KT_ERR_BAD_KEY_TYPE;
		if (r == KT_OK)
			r = add_registrar(k, v.pk);
		if (r != KT_OK) {
			kt_err_format(err, errlen, "registrar '%s': %s (want an Ed25519 "
			     "verifier key name+hash+base64, type 1)", s,
			     kt_strerror(r));
			return KT_ERR_KEYS;
		}
	}
	return KT_OK;
}

static int load_witnesses(const kt_config *cfg, kt_node_keys *k, char *err,
			  size_t errlen)
{
	size_t i;
	int r;

	if (cfg->witness.n > KT_NODE_MAX_WITNESSES) {
		kt_err_format(err, errlen, "witness: more than %d keys", KT_NODE_MAX_WITNESSES);
		return KT_ERR_KEYS;
	}
	for (i = 0; i < cfg->witness.n; i++) {
		const char *s = cfg->witness.items[i];
		kt_note_verifier *v = &k->witnesses[k->n_witnesses];

		r = kt_note_verifier_parse(v, s, strlen(s));
		if (r == KT_OK && v->type != KT_NOTE_KEY_COSIG_V1)
			r = KT_ERR_BAD_KEY_TYPE;
		if (r != KT_OK) {
			kt_err_format(err, errlen, "witness '%s': %s (want a cosignature/v1 "
			     "verifier key name+hash+base64, type 4)", s,
			     kt_strerror(r));
			return KT_ERR_KEYS;
		}
		k->n_witnesses++;
	}
	return KT_OK;
}

/* ---- generation ------------------------------------------------------------------- */

/* Makes a signer of type for name and writes its key string to path; the
 * verifier key string goes to *pub (heap, caller frees) if pub is set. */
static int gen_signer(const char *path, const char *name, uint8_t type,
		      kt_note_signer *out, char **pub, char *err, size_t errlen)
{
	uint8_t seed[KT_NOTE_SEED_BYTES];
	char *s = NULL;
	size_t slen = 0, plen = 0;
	int r;

	if (pub != NULL)
		*pub = NULL;
	randombytes_buf(seed, sizeof(seed));
	r = kt_note_signer_from_seed(out, name, strlen(name), type, seed);
	sodium_memzero(seed, sizeof(seed));
	if (r != KT_OK) {
		kt_err_format(err, errlen, "key name '%s': %s (no '+', blanks or control "
		     "characters; at most %d bytes)", name, kt_strerror(r),
		     KT_NOTE_MAX_NAME);
		return KT_ERR_KEYS;
	}
	r = kt_note_signer_format(out, &s, &slen);
	if (r != KT_OK) {
		kt_err_format(err, errlen, "%s: %s", path, kt_strerror(r));
		return KT_ERR_KEYS;
	}
	s[slen] = '\n'; /* replaces the NUL; written with its length */
	r = write_key_file(path, s, slen + 1, err, errlen);
	sodium_memzero(s, slen + 1);
	free(s);
	if (r == KT_OK && pub != NULL &&
	    kt_note_verifier_format(&out->pub, pub, &plen) != KT_OK) {
		kt_err_format(err, errlen, "%s: cannot format the verifier key", path);
		r = KT_ERR_KEYS;
	}
	return r;
}

/* Writes a fresh VRF seed file; the public key to pk. */
static int gen_vrf(const char *path, uint8_t pk[KT_VRF_PUBLICKEY_BYTES],
		   char *err, size_t errlen)
{
	uint8_t seed[KT_VRF_SEED_BYTES], sk[KT_VRF_SECRETKEY_BYTES];
	char line[VRF_PREFIX_LEN + SEED_B64_LEN + 2];
	int r;

	randombytes_buf(seed, sizeof(seed));
	memcpy(line, VRF_PREFIX, VRF_PREFIX_LEN);
	sodium_bin2base64(line + VRF_PREFIX_LEN, SEED_B64_LEN + 1, seed,
			  sizeof(seed), sodium_base64_VARIANT_ORIGINAL);
	line[VRF_PREFIX_LEN + SEED_B64_LEN] = '\n';
	r = kt_vrf_keypair_from_seed(pk, sk, seed);
	if (r == KT_OK)
		r = write_key_file(path, line, VRF_PREFIX_LEN + SEED_B64_LEN + 1,
				   err, errlen);
	else
		kt_err_format(err, errlen, "%s: %s", path, kt_strerror(r));
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(sk, sizeof(sk));
	sodium_memzero(line, sizeof(line));
	return r == KT_OK ? KT_OK : KT_ERR_KEYS;
}

static int gen_admin(const char *path, char *err, size_t errlen)
{
	uint8_t tok[KT_ADMIN_TOKEN_BYTES];
	char line[ADMIN_HEX_LEN + 2];
	int r;

	randombytes_buf(tok, sizeof(tok));
	sodium_bin2hex(line, ADMIN_HEX_LEN + 1, tok, sizeof(tok));
	line[ADMIN_HEX_LEN] = '\n';
	r = write_key_file(path, line, ADMIN_HEX_LEN + 1, err, errlen);
	sodium_memzero(tok, sizeof(tok));
	sodium_memzero(line, sizeof(line));
	return r;
}

int kt_keygen(const char *kind, const char *name, const char *out_path,
	      FILE *pub_out, char *err, size_t errlen)
{
	kt_note_signer sg;
	uint8_t pk[KT_VRF_PUBLICKEY_BYTES];
	char hex[2 * KT_VRF_PUBLICKEY_BYTES + 1];
	char *pub = NULL;
	uint8_t type;
	int r;

	kt_err_format(err, errlen, "%s", "");
	if (kind == NULL || out_path == NULL) {
		kt_err_format(err, errlen, "keygen: a kind and an output file are needed");
		return KT_ERR_INVALID_ARG;
	}
	if (sodium_init() < 0) {
		kt_err_format(err, errlen, "keygen: libsodium failed to initialise");
		return KT_ERR_INTERNAL;
	}
	if (strcmp(kind, "vrf") == 0) {
		r = gen_vrf(out_path, pk, err, errlen);
		if (r == KT_OK && pub_out != NULL) {
			sodium_bin2hex(hex, sizeof(hex), pk, sizeof(pk));
			if (fprintf(pub_out, "%s\n", hex) < 0)
				r = KT_ERR_IO;
		}
		return r;
	}
	if (strcmp(kind, "admin") == 0)
		return gen_admin(out_path, err, errlen);
	if (strcmp(kind, "log") == 0 || strcmp(kind, "registrar") == 0)
		type = KT_NOTE_KEY_ED25519;
	else if (strcmp(kind, "witness") == 0)
		type = KT_NOTE_KEY_COSIG_V1;
	else {
		kt_err_format(err, errlen, "keygen: unknown kind '%s' (log, vrf, registrar, "
		     "witness, admin)", kind);
		return KT_ERR_INVALID_ARG;
	}
	if (name == NULL || name[0] == '\0') {
		kt_err_format(err, errlen, "keygen %s: a key name is needed%s", kind,
		     strcmp(kind, "log") == 0 ? " (the log's origin)" : "");
		return KT_ERR_INVALID_ARG;
	}
	r = gen_signer(out_path, name, type, &sg, &pub, err, errlen);
	kt_note_signer_wipe(&sg);
	if (r == KT_OK && pub_out != NULL && fprintf(pub_out, "%s\n", pub) < 0)
		r = KT_ERR_IO;
	free(pub);
	return r;
}

/* ---- kt_node_keys_load --------------------------------------------------------- */

/* dir/name into out; KT_ERR_KEYS if it does not fit. */
static int join(char out[PATH_BYTES], const char *dir, const char *name,
		char *err, size_t errlen)
{
	int n = snprintf(out, PATH_BYTES, "%s/%s", dir, name);

	if (n < 0 || n >= PATH_BYTES) {
		kt_err_format(err, errlen, "data_dir %s: path too long", dir);
		return KT_ERR_KEYS;
	}
	return KT_OK;
}

/* The file to use: the configured one, else (dev mode) dir/name. */
static int key_path(char out[PATH_BYTES], const char *configured,
		    const char *dir, const char *name, char *err, size_t errlen)
{
	if (configured != NULL) {
		if (strlen(configured) >= PATH_BYTES) {
			kt_err_format(err, errlen, "%s: path too long", configured);
			return KT_ERR_KEYS;
		}
		strcpy(out, configured);
		return KT_OK;
	}
	return join(out, dir, name, err, errlen);
}

static int ensure_dir(const char *dir, char *err, size_t errlen)
{
	if (mkdir(dir, 0700) == 0 || errno == EEXIST)
		return KT_OK;
	kt_err_format(err, errlen, "data_dir %s: %s", dir, strerror(errno));
	return KT_ERR_KEYS;
}

/* Dev mode: generates the log, VRF and admin files that are not
 * configured (NULL paths are skipped) and do not exist yet.  A configured
 * file is never generated: it must exist. */
static int dev_generate(const char *log_path, const char *vrf_path,
			const char *admin_path, const char *origin, char *err,
			size_t errlen)
{
	kt_note_signer sg;
	uint8_t pk[KT_VRF_PUBLICKEY_BYTES];
	int r = KT_OK;

	if (log_path != NULL && !file_exists(log_path)) {
		r = gen_signer(log_path, origin, KT_NOTE_KEY_ED25519, &sg, NULL,
			       err, errlen);
		kt_note_signer_wipe(&sg);
	}
	if (r == KT_OK && vrf_path != NULL && !file_exists(vrf_path))
		r = gen_vrf(vrf_path, pk, err, errlen);
	if (r == KT_OK && admin_path != NULL && !file_exists(admin_path))
		r = gen_admin(admin_path, err, errlen);
	return r;
}

/* Dev mode: the registrar signer file (generated once) becomes an accepted
 * registrar, so that the quickstart can sign enrolment tokens. */
static int dev_registrar(const char *dir, kt_node_keys *k, char *err,
			 size_t errlen)
{
	char path[PATH_BYTES], buf[KEY_FILE_MAX];
	kt_note_signer sg;
	size_t len = 0;
	int r;

	r = join(path, dir, KT_NODE_DEV_REGISTRAR_FILE, err, errlen);
	if (r == KT_OK && !file_exists(path)) {
		r = gen_signer(path, KT_NODE_DEV_REGISTRAR_NAME,
			       KT_NOTE_KEY_ED25519, &sg, NULL, err, errlen);
		kt_note_signer_wipe(&sg);
	}
	if (r == KT_OK)
		r = read_key_file("registrar key", path, buf, sizeof(buf), &len,
				  err, errlen);
	if (r != KT_OK)
		return r;
	r = kt_note_signer_parse(&sg, buf, len);
	sodium_memzero(buf, sizeof(buf));
	if (r == KT_OK && sg.pub.type != KT_NOTE_KEY_ED25519)
		r = KT_ERR_BAD_KEY_TYPE;
	if (r == KT_OK)
		r = add_registrar(k, sg.pub.pk);
	kt_note_signer_wipe(&sg);
	if (r != KT_OK) {
		kt_err_format(err, errlen, "registrar key %s: %s", path, kt_strerror(r));
		return KT_ERR_KEYS;
	}
	return KT_OK;
}

int kt_node_keys_load(const kt_config *cfg, kt_node_keys *out, char *err,
		      size_t errlen)
{
	char log_path[PATH_BYTES], vrf_path[PATH_BYTES], admin_path[PATH_BYTES];
	const char *dir, *origin;
	int have_admin, r;

	memset(out, 0, sizeof(*out));
	admin_path[0] = '\0';
	kt_err_format(err, errlen, "%s", "");
	if (cfg == NULL)
		return KT_ERR_INVALID_ARG;
	if (sodium_init() < 0) {
		kt_err_format(err, errlen, "keys: libsodium failed to initialise");
		return KT_ERR_INTERNAL;
	}
	dir = kt_node_data_dir(cfg);
	origin = kt_node_origin(cfg);
	if (dir == NULL || origin == NULL ||
	    (!cfg->dev_mode && (cfg->log_key_file == NULL ||
				cfg->vrf_key_file == NULL))) {
		kt_err_format(err, errlen, "keys: data_dir, origin, log_key_file and "
		     "vrf_key_file are required (or run ktd --dev)");
		return KT_ERR_KEYS;
	}
	have_admin = cfg->admin_token_file != NULL || cfg->dev_mode;
	r = key_path(log_path, cfg->log_key_file, dir, KT_NODE_DEV_LOG_FILE, err,
		     errlen);
	if (r == KT_OK)
		r = key_path(vrf_path, cfg->vrf_key_file, dir, KT_NODE_DEV_VRF_FILE,
			     err, errlen);
	if (r == KT_OK && have_admin)
		r = key_path(admin_path, cfg->admin_token_file, dir,
			     KT_NODE_DEV_ADMIN_FILE, err, errlen);
	if (r == KT_OK && cfg->dev_mode)
		r = ensure_dir(dir, err, errlen);
	if (r == KT_OK && cfg->dev_mode)
		r = dev_generate(cfg->log_key_file == NULL ? log_path : NULL,
				 cfg->vrf_key_file == NULL ? vrf_path : NULL,
				 cfg->admin_token_file == NULL ? admin_path : NULL,
				 origin, err, errlen);
	if (r == KT_OK)
		r = load_log_key(log_path, origin, out, err, errlen);
	if (r == KT_OK)
		r = load_vrf_key(vrf_path, out, err, errlen);
	if (r == KT_OK && have_admin)
		r = load_admin_token(admin_path, out, err, errlen);
	if (r == KT_OK)
		r = load_registrars(cfg, out, err, errlen);
	if (r == KT_OK && cfg->dev_mode)
		r = dev_registrar(dir, out, err, errlen);
	if (r == KT_OK)
		r = load_witnesses(cfg, out, err, errlen);
	if (r != KT_OK)
		kt_node_keys_wipe(out);
	return r;
}
