/*
 * kt_fake_log.h — a real, small keytrail log + map built in memory from a
 * script, answering exactly what a server sends (test-only).
 *
 * Uses merkle/ only (kt_log memstore, kt_map memstore, kt_types encoders,
 * kt_commit, kt_vrf, kt_note / kt_checkpoint / kt_cosig), with fixed seeds, so
 * every run builds byte-identical logs.  The apply logic follows
 * server/apply.h for a batch of one change: each update appends one entry at
 * log index i and writes the map at version i; a read at tree size N proves
 * the map as of N - 1.
 *
 * Keys (all from fixed seeds):
 *   log signer   Ed25519 (0x01) named KT_FAKE_ORIGIN, seed 32 x 0xA0
 *   witnesses    cosignature/v1 (0x04) "witness-<i>.example", seeds 0xB0+i
 *   VRF          seed 32 x 0xC0
 *   registrar    Ed25519 seed 32 x 0xD0
 *   device slot s  sign seed 32 x (0x40+s), X25519 secret 32 x (0x60+s),
 *                  ids "phone" "laptop" "tablet" "watch" "desktop" "escrow"
 *                  "forward" "extra" (slot 5 is kind escrow, 6 forwarding)
 *
 * Not thread safe; one kt_fake_log per test.  Every function returns KT_OK
 * or an error code (the test asserts on it).
 */
#ifndef KT_TEST_FAKE_LOG_H
#define KT_TEST_FAKE_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "kt_enc.h"
#include "kt_hash.h"
#include "kt_log.h"
#include "kt_note.h"
#include "kt_types.h"
#include "kt_vrf.h"

#define KT_FAKE_ORIGIN "example.com/keytrail"
#define KT_FAKE_WITNESSES 3
#define KT_FAKE_DEVICES 8
#define KT_FAKE_MAX_ENTRIES 4096
#define KT_FAKE_MAX_ACCOUNTS 4096
#define KT_FAKE_MAX_VERSIONS 64

/* Misbehaviour switches, applied to the NEXT update only (then cleared). */
#define KT_FAKE_TAMPER_HISTORY 0x01u      /* history chained from zeros */
#define KT_FAKE_TAMPER_EXTRA_DEVICE 0x02u /* also insert device slot 7 */
#define KT_FAKE_TAMPER_BAD_SIG 0x04u      /* flip a provenance signature bit */
#define KT_FAKE_TAMPER_SKIP_VERSION 0x08u /* version jumps by 2 */
#define KT_FAKE_TAMPER_BAD_KEY 0x10u      /* the added device's enc key is
                                             all zero (invalid) */
#define KT_FAKE_TAMPER_VALUE_BYTES 0x20u  /* commit the value bytes with a
                                             trailing zero byte */
#define KT_FAKE_TAMPER_PROV_BYTES 0x40u   /* commit the provenance bytes with
                                             a trailing zero byte */
#define KT_FAKE_TAMPER_ADDED_BY 0x80u     /* every device the operator added
                                             is committed as added by device
                                             "phone" (slot 0) */

typedef struct kt_fake_log kt_fake_log;

/* A log at time now_ms (no entries yet). */
int kt_fake_log_new(kt_fake_log **out, uint64_t now_ms);
void kt_fake_log_free(kt_fake_log *fl);

void kt_fake_log_set_time(kt_fake_log *fl, uint64_t now_ms);
uint64_t kt_fake_log_size(const kt_fake_log *fl);
void kt_fake_log_tamper_next(kt_fake_log *fl, unsigned tamper);

/* ---- keys ------------------------------------------------------------- */

const kt_note_signer *kt_fake_log_signer(const kt_fake_log *fl);
const kt_note_signer *kt_fake_log_witness(const kt_fake_log *fl, unsigned i);
const uint8_t *kt_fake_log_vrf_pk(const kt_fake_log *fl);
/* The device spec (keys, id, push, kind; added_at_ms 0) of slot s. */
const kt_device *kt_fake_log_device(const kt_fake_log *fl, unsigned s);

/* ---- the script ------------------------------------------------------- */

int kt_fake_log_heartbeat(kt_fake_log *fl);
/* Registrar enrolment of device slot s (creates the account). */
int kt_fake_log_enrol(kt_fake_log *fl, const char *account, unsigned s);
/* Device `by` adds / removes device slot s, or sets its push address. */
int kt_fake_log_add(kt_fake_log *fl, const char *account, unsigned by,
		    unsigned s);
int kt_fake_log_remove(kt_fake_log *fl, const char *account, unsigned by,
		       unsigned s);
int kt_fake_log_set_push(kt_fake_log *fl, const char *account, unsigned by,
			 unsigned s, const char *push);
/* The operator adds / removes device slot s with a reason. */
int kt_fake_log_operator_add(kt_fake_log *fl, const char *account, unsigned s,
			     const char *reason);
int kt_fake_log_operator_remove(kt_fake_log *fl, const char *account,
				unsigned s, const char *reason);

/* The account's current version (0 if unknown). */
uint64_t kt_fake_log_version(const kt_fake_log *fl, const char *account);

/* ---- what a server sends ---------------------------------------------- */

/* The signed checkpoint of size (<= the log size), cosigned by the
 * witnesses whose bit is set in witness_mask at time cosig_time (seconds).
 * *note is heap (free()). */
int kt_fake_log_checkpoint(const kt_fake_log *fl, uint64_t size,
			   unsigned witness_mask, uint64_t cosig_time,
			   uint8_t **note, size_t *note_len);

/* A ReadHead at `size` for a client whose last verified size is from_size
 * (0 = none), cosigned by witness_mask at now/1000. */
typedef struct kt_fake_head {
	uint8_t *checkpoint;                 /* heap */
	size_t checkpoint_len;
	uint64_t tree_size;
	uint8_t consistency[KT_LOG_MAX_PROOF_HASHES][KT_HASH_BYTES];
	size_t n_consistency;
	uint8_t last_entry[KT_LOG_ENTRY_MAX_BYTES];
	size_t last_entry_len;
	uint8_t inclusion[KT_LOG_MAX_PROOF_HASHES][KT_HASH_BYTES];
	size_t n_inclusion;
} kt_fake_head;

int kt_fake_log_head(const kt_fake_log *fl, uint64_t size, uint64_t from_size,
		     unsigned witness_mask, kt_fake_head *out);
void kt_fake_head_free(kt_fake_head *h);

/* The account part of a LookupResponse at `size`. */
typedef struct kt_fake_lookup {
	uint8_t vrf_proof[KT_VRF_PROOF_BYTES];
	uint8_t *map_proof;                  /* heap */
	size_t map_proof_len;
	int present;
	uint8_t leaf[KT_MAP_LEAF_BYTES];
	uint8_t *value;                      /* heap (present) */
	size_t value_len;
	uint8_t *provenance;                 /* heap (present) */
	size_t provenance_len;
	uint8_t opening[KT_OPENING_BYTES];
} kt_fake_lookup;

int kt_fake_log_lookup(const kt_fake_log *fl, uint64_t size,
		       const char *account, kt_fake_lookup *out);
void kt_fake_lookup_free(kt_fake_lookup *l);

/* One HistoryVersion at `size`. */
typedef struct kt_fake_version {
	uint64_t log_index;
	uint8_t entry[KT_LOG_ENTRY_MAX_BYTES];
	size_t entry_len;
	uint8_t inclusion[KT_LOG_MAX_PROOF_HASHES][KT_HASH_BYTES];
	size_t n_inclusion;
	uint8_t *value;                      /* heap */
	size_t value_len;
	uint8_t *provenance;                 /* heap */
	size_t provenance_len;
	uint8_t opening[KT_OPENING_BYTES];
} kt_fake_version;

/* Versions from_version .. (the account's version at size) into *out (heap
 * array of *n; kt_fake_versions_free). */
int kt_fake_log_history(const kt_fake_log *fl, uint64_t size,
			const char *account, uint64_t from_version,
			kt_fake_version **out, size_t *n);
void kt_fake_versions_free(kt_fake_version *v, size_t n);

#endif /* KT_TEST_FAKE_LOG_H */
