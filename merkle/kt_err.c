/* kt_err.c — descriptions of the error codes in kt_err.h. */
#include "kt_err.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

struct err_row {
	int code;
	const char *name;
	const char *text;
};

/* Keep in the order of kt_err.h; tests/unit/test_err.c checks every code. */
static const struct err_row err_table[] = {
	{KT_OK, "KT_OK", "success"},
	{KT_ERR_NOMEM, "KT_ERR_NOMEM", "out of memory"},
	{KT_ERR_INVALID_ARG, "KT_ERR_INVALID_ARG", "invalid argument"},
	{KT_ERR_INTERNAL, "KT_ERR_INTERNAL", "internal error"},
	{KT_ERR_STORAGE, "KT_ERR_STORAGE", "storage read or write failed"},
	{KT_ERR_NOT_FOUND, "KT_ERR_NOT_FOUND", "not found"},
	{KT_ERR_IO, "KT_ERR_IO", "I/O error"},
	{KT_ERR_UNSUPPORTED, "KT_ERR_UNSUPPORTED", "unsupported feature"},
	{KT_ERR_TRUNCATED, "KT_ERR_TRUNCATED", "input is truncated"},
	{KT_ERR_TRAILING, "KT_ERR_TRAILING", "trailing bytes after the structure"},
	{KT_ERR_TOO_LARGE, "KT_ERR_TOO_LARGE", "length or count over its limit"},
	{KT_ERR_BAD_TYPE, "KT_ERR_BAD_TYPE", "unknown type byte"},
	{KT_ERR_NONCANONICAL, "KT_ERR_NONCANONICAL", "non-canonical encoding"},
	{KT_ERR_BAD_LENGTH, "KT_ERR_BAD_LENGTH", "length below its minimum"},
	{KT_ERR_BAD_UTF8, "KT_ERR_BAD_UTF8", "text is not valid UTF-8"},
	{KT_ERR_BAD_BASE64, "KT_ERR_BAD_BASE64", "malformed base64"},
	{KT_ERR_BAD_KEY, "KT_ERR_BAD_KEY", "invalid public key"},
	{KT_ERR_BAD_SIGNATURE, "KT_ERR_BAD_SIGNATURE", "signature does not verify"},
	{KT_ERR_BAD_KEY_TYPE, "KT_ERR_BAD_KEY_TYPE", "unknown key or signature type"},
	{KT_ERR_BAD_VERIFIER_KEY, "KT_ERR_BAD_VERIFIER_KEY", "malformed verifier key"},
	{KT_ERR_KEY_HASH_MISMATCH, "KT_ERR_KEY_HASH_MISMATCH", "key hash does not match the key"},
	{KT_ERR_LOG_BAD_SIZE, "KT_ERR_LOG_BAD_SIZE", "log index or tree size out of range"},
	{KT_ERR_LOG_PROOF_LENGTH, "KT_ERR_LOG_PROOF_LENGTH", "log proof has the wrong length"},
	{KT_ERR_LOG_ROOT_MISMATCH, "KT_ERR_LOG_ROOT_MISMATCH", "log proof does not give the root"},
	{KT_ERR_LOG_BAD_HASH, "KT_ERR_LOG_BAD_HASH", "hash is not 32 bytes"},
	{KT_ERR_MAP_ROOT_MISMATCH, "KT_ERR_MAP_ROOT_MISMATCH", "map proof does not give the root"},
	{KT_ERR_MAP_BAD_PROOF, "KT_ERR_MAP_BAD_PROOF", "malformed map proof"},
	{KT_ERR_MAP_WRONG_KIND, "KT_ERR_MAP_WRONG_KIND", "map proof of the wrong kind"},
	{KT_ERR_MAP_DEPTH, "KT_ERR_MAP_DEPTH", "map depth exceeded"},
	{KT_ERR_VRF_BAD_PROOF, "KT_ERR_VRF_BAD_PROOF", "VRF proof does not verify"},
	{KT_ERR_VRF_BAD_POINT, "KT_ERR_VRF_BAD_POINT", "VRF point is invalid"},
	{KT_ERR_VRF_BAD_SCALAR, "KT_ERR_VRF_BAD_SCALAR", "VRF scalar is not canonical"},
	{KT_ERR_VRF_HASH_TO_CURVE, "KT_ERR_VRF_HASH_TO_CURVE", "VRF hash to curve failed"},
	{KT_ERR_NOTE_MALFORMED, "KT_ERR_NOTE_MALFORMED", "malformed signed note"},
	{KT_ERR_NOTE_NO_VERIFIED_SIG, "KT_ERR_NOTE_NO_VERIFIED_SIG", "no verified signature by a known key"},
	{KT_ERR_NOTE_DUPLICATE_SIG, "KT_ERR_NOTE_DUPLICATE_SIG", "duplicate signature by one key"},
	{KT_ERR_NOTE_BAD_SIG, "KT_ERR_NOTE_BAD_SIG", "signature by a known key does not verify"},
	{KT_ERR_CHECKPOINT_MALFORMED, "KT_ERR_CHECKPOINT_MALFORMED", "malformed checkpoint"},
	{KT_ERR_CHECKPOINT_ORIGIN, "KT_ERR_CHECKPOINT_ORIGIN", "checkpoint has another origin"},
	{KT_ERR_COSIG_MALFORMED, "KT_ERR_COSIG_MALFORMED", "malformed cosignature"},
	{KT_ERR_NOTE_BAD_SIGNER_KEY, "KT_ERR_NOTE_BAD_SIGNER_KEY", "malformed signer key"},
	{KT_ERR_COMMITMENT_MISMATCH, "KT_ERR_COMMITMENT_MISMATCH", "opening does not match the commitment"},
	{KT_ERR_HISTORY_MISMATCH, "KT_ERR_HISTORY_MISMATCH", "history chain mismatch"},
	{KT_ERR_VERSION_GAP, "KT_ERR_VERSION_GAP", "versions are not consecutive"},
	{KT_ERR_LEAF_MISMATCH, "KT_ERR_LEAF_MISMATCH", "leaf fields disagree with the entry"},
	{KT_ERR_DEVICE_EXISTS, "KT_ERR_DEVICE_EXISTS", "a device with this id already exists"},
	{KT_ERR_PROVENANCE_OP, "KT_ERR_PROVENANCE_OP", "operation not allowed for this provenance type"},
	{KT_ERR_NOOP_CHANGE, "KT_ERR_NOOP_CHANGE", "operation changes nothing"},
	{KT_ERR_VALUE_MISMATCH, "KT_ERR_VALUE_MISMATCH", "value is not the previous value with the operation applied"},
	{KT_ERR_STORAGE_FORMAT, "KT_ERR_STORAGE_FORMAT", "database has another on-disk format version"},
	{KT_ERR_STORAGE_PRUNED, "KT_ERR_STORAGE_PRUNED", "version is older than the prune boundary"},
	{KT_ERR_CONFIG_SYNTAX, "KT_ERR_CONFIG_SYNTAX", "config line is not 'name = value'"},
	{KT_ERR_CONFIG_UNKNOWN, "KT_ERR_CONFIG_UNKNOWN", "unknown config option"},
	{KT_ERR_CONFIG_VALUE, "KT_ERR_CONFIG_VALUE", "malformed config value"},
	{KT_ERR_CONFIG_RANGE, "KT_ERR_CONFIG_RANGE", "config value out of range"},
	{KT_ERR_CONFIG_DUPLICATE, "KT_ERR_CONFIG_DUPLICATE", "config option or value given twice"},
	{KT_ERR_CONFIG_INVALID, "KT_ERR_CONFIG_INVALID", "inconsistent configuration"},
	{KT_ERR_NET_LISTEN, "KT_ERR_NET_LISTEN", "cannot listen on the address"},
	{KT_ERR_NET_STALE, "KT_ERR_NET_STALE", "call already completed or cancelled"},
	{KT_ERR_VERSION_MISMATCH, "KT_ERR_VERSION_MISMATCH", "expected_version is not the current version"},
	{KT_ERR_ALREADY_APPLIED, "KT_ERR_ALREADY_APPLIED", "batch already applied"},
	{KT_ERR_BUSY, "KT_ERR_BUSY", "server busy"},
	{KT_ERR_UNAVAILABLE, "KT_ERR_UNAVAILABLE", "service unavailable"},
	{KT_ERR_NOT_LEADER, "KT_ERR_NOT_LEADER", "not the leader"},
	{KT_ERR_NO_ACCOUNT, "KT_ERR_NO_ACCOUNT", "account does not exist"},
	{KT_ERR_UNAUTHORISED, "KT_ERR_UNAUTHORISED", "not authorised"},
	{KT_ERR_TOKEN_EXPIRED, "KT_ERR_TOKEN_EXPIRED", "registrar token expired"},
	{KT_ERR_UNKNOWN_REGISTRAR, "KT_ERR_UNKNOWN_REGISTRAR", "unknown registrar key"},
	{KT_ERR_ADMIN_DENIED, "KT_ERR_ADMIN_DENIED", "admin credential missing or wrong"},
	{KT_ERR_RATE_LIMITED, "KT_ERR_RATE_LIMITED", "rate limit exceeded"},
	{KT_ERR_NO_CHECKPOINT, "KT_ERR_NO_CHECKPOINT", "no checkpoint at that tree size"},
	{KT_ERR_STALE_REQUEST, "KT_ERR_STALE_REQUEST", "request timestamp outside the allowed window"},
	{KT_ERR_KEYS, "KT_ERR_KEYS", "key file missing or malformed"},
	{KT_ERR_ACCOUNT_EXISTS, "KT_ERR_ACCOUNT_EXISTS", "account already exists"},
	{KT_ERR_UNKNOWN_WITNESS, "KT_ERR_UNKNOWN_WITNESS", "unknown witness key"},
	{KT_ERR_TOKEN_USED, "KT_ERR_TOKEN_USED", "registrar token already used"},
	{KT_ERR_CLIENT_CONFIG, "KT_ERR_CLIENT_CONFIG", "trust configuration is invalid"},
	{KT_ERR_CLIENT_STATE, "KT_ERR_CLIENT_STATE", "trust state is malformed or not signed by the log"},
	{KT_ERR_CLIENT_CHECKPOINT_SIG, "KT_ERR_CLIENT_CHECKPOINT_SIG", "checkpoint is not signed by the log key"},
	{KT_ERR_CLIENT_CHECKPOINT_ORIGIN, "KT_ERR_CLIENT_CHECKPOINT_ORIGIN", "checkpoint has another origin than the trusted log"},
	{KT_ERR_CLIENT_SIZE_MISMATCH, "KT_ERR_CLIENT_SIZE_MISMATCH", "checkpoint size differs from the response's tree size"},
	{KT_ERR_CLIENT_WITNESS_POLICY, "KT_ERR_CLIENT_WITNESS_POLICY", "too few witness cosignatures"},
	{KT_ERR_CLIENT_LAG, "KT_ERR_CLIENT_LAG", "last cosigned checkpoint is older than the allowed lag"},
	{KT_ERR_CLIENT_ROLLBACK, "KT_ERR_CLIENT_ROLLBACK", "checkpoint is older than the trusted checkpoint"},
	{KT_ERR_CLIENT_FORK, "KT_ERR_CLIENT_FORK", "checkpoint forks from the trusted one (same size, other root)"},
	{KT_ERR_CLIENT_INCONSISTENT, "KT_ERR_CLIENT_INCONSISTENT", "checkpoint is not consistent with the trusted one"},
	{KT_ERR_CLIENT_EMPTY_LOG, "KT_ERR_CLIENT_EMPTY_LOG", "checkpoint of an empty log"},
	{KT_ERR_CLIENT_ENTRY_MALFORMED, "KT_ERR_CLIENT_ENTRY_MALFORMED", "log entry is malformed"},
	{KT_ERR_CLIENT_ENTRY_INCLUSION, "KT_ERR_CLIENT_ENTRY_INCLUSION", "log entry inclusion proof fails"},
	{KT_ERR_CLIENT_STALE, "KT_ERR_CLIENT_STALE", "checkpoint is older than the maximum age"},
	{KT_ERR_CLIENT_FUTURE, "KT_ERR_CLIENT_FUTURE", "checkpoint timestamp is in the future"},
	{KT_ERR_CLIENT_TIME_ORDER, "KT_ERR_CLIENT_TIME_ORDER", "checkpoint time goes back"},
	{KT_ERR_CLIENT_VRF, "KT_ERR_CLIENT_VRF", "VRF proof for the account fails"},
	{KT_ERR_CLIENT_LEAF_MALFORMED, "KT_ERR_CLIENT_LEAF_MALFORMED", "map leaf is malformed"},
	{KT_ERR_CLIENT_MAP_PROOF, "KT_ERR_CLIENT_MAP_PROOF", "map proof fails"},
	{KT_ERR_CLIENT_OPENING, "KT_ERR_CLIENT_OPENING", "commitment opening fails"},
	{KT_ERR_CLIENT_VALUE_MALFORMED, "KT_ERR_CLIENT_VALUE_MALFORMED", "account value is malformed"},
	{KT_ERR_CLIENT_VALUE_INVALID, "KT_ERR_CLIENT_VALUE_INVALID", "account value holds an invalid device key"},
	{KT_ERR_CLIENT_PROVENANCE_MALFORMED, "KT_ERR_CLIENT_PROVENANCE_MALFORMED", "provenance is malformed"},
	{KT_ERR_CLIENT_ENTRY_MISMATCH, "KT_ERR_CLIENT_ENTRY_MISMATCH", "history entry does not match the account"},
	{KT_ERR_CLIENT_VERSION_GAP, "KT_ERR_CLIENT_VERSION_GAP", "history versions are not consecutive"},
	{KT_ERR_CLIENT_HISTORY, "KT_ERR_CLIENT_HISTORY", "history chain does not reach the current leaf"},
	{KT_ERR_CLIENT_TRANSITION, "KT_ERR_CLIENT_TRANSITION", "committed value is not the authorised change"},
	{KT_ERR_CLIENT_PROVENANCE_SIG, "KT_ERR_CLIENT_PROVENANCE_SIG", "provenance signature fails"},
	{KT_ERR_CLIENT_UNAVAILABLE, "KT_ERR_CLIENT_UNAVAILABLE", "no directory endpoint could be reached"},
	{KT_ERR_CLIENT_DEADLINE, "KT_ERR_CLIENT_DEADLINE", "the call deadline passed on every endpoint"},
	{KT_ERR_CLIENT_INVALID_REQUEST, "KT_ERR_CLIENT_INVALID_REQUEST", "the server refused the request as invalid"},
	{KT_ERR_CLIENT_DENIED, "KT_ERR_CLIENT_DENIED", "the server denied the request"},
	{KT_ERR_CLIENT_PRECONDITION, "KT_ERR_CLIENT_PRECONDITION", "the server refused: precondition failed (account changed?)"},
	{KT_ERR_CLIENT_LIMITED, "KT_ERR_CLIENT_LIMITED", "the server refused: resource exhausted or rate limited"},
	{KT_ERR_CLIENT_NOT_FOUND, "KT_ERR_CLIENT_NOT_FOUND", "the server answered not found"},
	{KT_ERR_CLIENT_SERVER, "KT_ERR_CLIENT_SERVER", "the server failed the call"},
	{KT_ERR_CLIENT_PROTOCOL, "KT_ERR_CLIENT_PROTOCOL", "malformed response from the server"},
	{KT_ERR_CLIENT_KEY_FILE, "KT_ERR_CLIENT_KEY_FILE", "key file has unsafe permissions or is malformed"},
	{KT_ERR_CLIENT_NO_DEVICES, "KT_ERR_CLIENT_NO_DEVICES", "the account has no device to seal to"},
	{KT_ERR_CLIENT_DECRYPT, "KT_ERR_CLIENT_DECRYPT", "sealed box does not open with this key"},
	{KT_ERR_CLIENT_TLS_CERT, "KT_ERR_CLIENT_TLS_CERT", "TLS client certificate or key malformed or not a pair"},
};

static const struct err_row *err_find(int code)
{
	size_t i;

	for (i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++)
		if (err_table[i].code == code)
			return &err_table[i];
	return NULL;
}

const char *kt_strerror(int code)
{
	const struct err_row *row = err_find(code);

	return row != NULL ? row->text : "unknown error";
}

const char *kt_errname(int code)
{
	const struct err_row *row = err_find(code);

	return row != NULL ? row->name : "KT_ERR_UNKNOWN";
}

void kt_err_format(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}
