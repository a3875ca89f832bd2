/*
 * node.h — one ktd node: its keys, storage, apply path and sequencer, and
 * the published head that readers answer at.
 *
 * main builds a kt_node from the configuration (kt_node_open), hands it to
 * the gRPC handlers (service.c, admin.c), and closes it on shutdown after
 * the network layer has drained.
 *
 * THREAD SAFETY: every kt_node_* function may be called from any thread
 * once kt_node_open returned, except kt_node_close.
 */
#ifndef KT_SERVER_NODE_H
#define KT_SERVER_NODE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "apply.h"
#include "config.h"
#include "kt_err.h"
#include "kt_note.h"
#include "kt_types.h"
#include "kt_vrf.h"
#include "sequencer.h"
#include "storage.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KT_ADMIN_TOKEN_BYTES 32        /* the admin credential, raw */
#define KT_NODE_MAX_REGISTRARS 64
#define KT_NODE_MAX_WITNESSES 64

/* Dev mode (cfg->dev_mode) defaults: the data directory and origin used
 * when they are not configured, and the key files generated in the data
 * directory on first start (mode 0600) when no file is configured. */
#define KT_NODE_DEV_DATA_DIR "ktd-dev-data"
#define KT_NODE_DEV_ORIGIN "localhost/keytrail-dev"
#define KT_NODE_DEV_LOG_FILE "log.key"             /* log signer key */
#define KT_NODE_DEV_VRF_FILE "vrf.key"             /* VRF seed */
#define KT_NODE_DEV_ADMIN_FILE "admin.token"       /* admin credential */
#define KT_NODE_DEV_REGISTRAR_FILE "registrar.key" /* registrar SIGNER key */
#define KT_NODE_DEV_REGISTRAR_NAME "dev-registrar"

/* How often the pruning thread looks for map versions older than
 * cfg->retention_ms, and how many map-node keys one step examines. */
#define KT_NODE_PRUNE_INTERVAL_MS 60000u
/* Nice value of the background (cache warm-up, pruning) thread. */
#define KT_NODE_BACKGROUND_NICE 10
#define KT_NODE_PRUNE_STEP_KEYS 10000u

/* The node's key material, loaded (or, in dev mode, generated) by keys.c. */
typedef struct kt_node_keys {
	kt_note_signer log_signer;                 /* name = origin */
	uint8_t vrf_sk[KT_VRF_SECRETKEY_BYTES];
	uint8_t vrf_pk[KT_VRF_PUBLICKEY_BYTES];
	kt_sign_key registrars[KT_NODE_MAX_REGISTRARS];
	size_t n_registrars;
	kt_note_verifier witnesses[KT_NODE_MAX_WITNESSES]; /* cosignature keys */
	size_t n_witnesses;
	uint8_t admin_token[KT_ADMIN_TOKEN_BYTES];
	int has_admin_token;                       /* 0: Admin refuses all */
} kt_node_keys;

/* Wipes every secret in k. */
void kt_node_keys_wipe(kt_node_keys *k);

/* Loads the keys named by cfg (log_key_file, vrf_key_file, registrar,
 * witness, admin_token_file); formats in docs/OPERATIONS.md "Keys".  Key
 * files must be regular files with no group/other permission bits (0600
 * or 0400), else they are refused.  The log key's name must equal the
 * origin.  Registrar lines must be Ed25519 (type 0x01) verifier keys,
 * witness lines cosignature/v1 (type 0x04) verifier keys.
 * With cfg->dev_mode, every key file that is not configured lives in the
 * data directory (kt_node_data_dir) under the KT_NODE_DEV_*_FILE names and
 * is generated there (mode 0600, O_EXCL) if missing, an admin token
 * included; the dev registrar's signer file is generated likewise and its
 * public key is accepted as a registrar.
 * Returns KT_OK, KT_ERR_KEYS (err: "<option> <path>: <reason>"),
 * KT_ERR_INVALID_ARG, KT_ERR_INTERNAL.  On failure *out is wiped. */
KT_MUST_CHECK int kt_node_keys_load(const kt_config *cfg, kt_node_keys *out,
				    char *err, size_t errlen);

/* The data directory / origin in effect: the configured value, else in dev
 * mode KT_NODE_DEV_DATA_DIR / KT_NODE_DEV_ORIGIN, else NULL.  Borrowed from
 * cfg or static. */
const char *kt_node_data_dir(const kt_config *cfg);
const char *kt_node_origin(const kt_config *cfg);

/* `ktd keygen`: generates a key of kind "log", "vrf", "registrar",
 * "witness" or "admin" into the new file out_path (created with O_EXCL and
 * mode 0600: an existing file is never overwritten) and writes the public
 * half, one line, to pub_out (may be NULL):
 *   log, registrar  Ed25519 signer key string (PRIVATE+KEY+name+hash+key);
 *                   pub_out: its verifier key string (type 0x01).  name is
 *                   required: for "log" it must be the log's origin.
 *   witness         cosignature/v1 signer key (type 0x04); pub_out: its
 *                   verifier key string.  name required.
 *   vrf             "KT-VRF-SEED+<base64 seed>"; pub_out: the 32-byte
 *                   public key as 64 lowercase hex digits.  name unused.
 *   admin           64 hex digits; nothing is written to pub_out.
 * Returns KT_OK, KT_ERR_INVALID_ARG (unknown kind, missing name),
 * KT_ERR_KEYS (bad name, file exists or cannot be written; the file is
 * removed again), KT_ERR_IO (pub_out), KT_ERR_INTERNAL; err receives one
 * line.  Secrets are wiped from memory.  Thread safe. */
KT_MUST_CHECK int kt_keygen(const char *kind, const char *name,
			    const char *out_path, FILE *pub_out, char *err,
			    size_t errlen);

typedef struct kt_node kt_node;

/* Opens storage in cfg->data_dir, loads keys, opens the apply path and
 * starts the local sequencer (heartbeats included).  *out owned by the
 * caller (kt_node_close).  err receives a one-line reason on failure. */
KT_MUST_CHECK int kt_node_open(const kt_config *cfg, kt_node **out,
			       char *err, size_t errlen);

/* Stops the sequencer (completing every pending change), closes storage,
 * wipes keys.  n may be NULL. */
void kt_node_close(kt_node *n);

/* Borrowed accessors, valid until kt_node_close. */
const kt_config *kt_node_config(const kt_node *n);
const kt_node_keys *kt_node_keys_get(const kt_node *n);
kt_storage *kt_node_storage(kt_node *n);

/* The node's cache of per-size read heads (reader.h); owned by the node. */
struct kt_reader_cache *kt_node_reader_cache(kt_node *n);

/* The head published after the last applied batch (a copy). */
void kt_node_head(kt_node *n, kt_apply_head *out);

/* Submits a validated change (see sequencer.h for ownership and the done
 * contract). */
KT_MUST_CHECK int kt_node_submit(kt_node *n, kt_change *change,
				 kt_seq_done_fn done, void *arg);

/* Witness cosignatures (the AddCosignature handler): see
 * kt_apply_put_cosig and kt_apply_set_cosigned in apply.h; these forward to
 * them.  Any thread; they wait for a batch being applied. */
#define KT_NODE_COSIG_API 1
KT_MUST_CHECK int kt_node_cosig_put(kt_node *n, uint64_t size,
				    const uint8_t key_hash[4],
				    const uint8_t *name, size_t name_len,
				    const uint8_t *line, size_t line_len);
KT_MUST_CHECK int kt_node_cosigned_put(kt_node *n, uint64_t size);

/* The node's clock in ms (the sequencer's clock). */
uint64_t kt_node_now_ms(kt_node *n);

#ifdef __cplusplus
}
#endif
#endif /* KT_SERVER_NODE_H */
