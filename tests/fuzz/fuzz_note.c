/*
 * fuzz_note.c — libFuzzer target for the signed-note parsers (kt_note.h).
 *
 * The input is tried as a whole signed note, a verifier key string, a
 * signer key string and a signature line.  Besides "no crash, no leak, no
 * UB", it checks properties that must hold for every input:
 *   - an opened note's text is a prefix of the input ending in "\n" and
 *     followed by the blank line, and some known key verified;
 *   - a key string that parses formats back to the same bytes (one
 *     canonical form);
 *   - a note that kt_note_add_sig extends opens with the signer's key.
 * A violated property aborts, so the fuzzer reports it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kt_note.h"

#define NKEYS 3

/* Test-only state: keys built once per process. */
static kt_note_verifier keys[NKEYS];
static kt_note_signer signer;
static int ready;

static void setup(void)
{
	static const char peter[] =
		"PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
	static const char log[] =
		"arche2025h1.staging.ct.transparency.dev+ba2f06c0+AU0vHmlGCS/PdN8b2OaGmKprLI8HKM+dJ472xgFYh15f";
	uint8_t seed[KT_NOTE_SEED_BYTES];
	kt_note_signer w;

	if (sodium_init() < 0)
		abort();
	memset(seed, 0x5a, sizeof(seed));
	if (kt_note_verifier_parse(&keys[0], peter, strlen(peter)) != KT_OK ||
	    kt_note_verifier_parse(&keys[1], log, strlen(log)) != KT_OK ||
	    kt_note_signer_from_seed(&w, "fuzz.example/w1", 15,
				     KT_NOTE_KEY_COSIG_V1, seed) != KT_OK)
		abort();
	keys[2] = w.pub;
	kt_note_signer_wipe(&w);
	memset(seed, 0xa5, sizeof(seed));
	if (kt_note_signer_from_seed(&signer, "fuzz.example/log", 16,
				     KT_NOTE_KEY_ED25519, seed) != KT_OK)
		abort();
	ready = 1;
}

static void check_open(const uint8_t *data, size_t size)
{
	kt_note_sigstatus st[NKEYS];
	kt_bytes text;
	size_t i, n = 0;

	if (kt_note_open(data, size, keys, NKEYS, &text, st) != KT_OK) {
		for (i = 0; i < NKEYS; i++)
			if (st[i].verified || st[i].timestamp != 0)
				abort();
		if (text.p != NULL || text.len != 0)
			abort();
		return;
	}
	if (text.p != data || text.len == 0 || text.len + 1 >= size ||
	    data[text.len - 1] != '\n' || data[text.len] != '\n')
		abort();
	for (i = 0; i < NKEYS; i++)
		n += st[i].verified;
	if (n == 0)
		abort();
}

/* A string that parses must format back to itself. */
static void check_keys(const uint8_t *data, size_t size)
{
	kt_note_verifier v;
	kt_note_signer s;
	char *out;
	size_t len;

	if (kt_note_verifier_parse(&v, (const char *)data, size) == KT_OK) {
		if (kt_note_verifier_format(&v, &out, &len) != KT_OK ||
		    len != size || memcmp(out, data, size) != 0)
			abort();
		free(out);
	}
	if (kt_note_signer_parse(&s, (const char *)data, size) == KT_OK) {
		if (kt_note_signer_format(&s, &out, &len) != KT_OK ||
		    len != size || memcmp(out, data, size) != 0)
			abort();
		sodium_memzero(out, len);
		free(out);
		kt_note_signer_wipe(&s);
	}
}

static void check_line(const uint8_t *data, size_t size)
{
	kt_note_sig sig;
	uint64_t t;
	size_t i;

	if (kt_note_sig_parse(&sig, data, size) != KT_OK)
		return;
	if (sig.name.len == 0 || sig.raw_len < 5 ||
	    sig.b64.p + sig.b64.len + 1 != data + size)
		abort();
	for (i = 0; i < NKEYS; i++)
		if (kt_note_sig_verify(&sig, &keys[i], data, size, &t) == KT_OK)
			abort(); /* a line cannot sign itself */
}

static void check_add_sig(const uint8_t *data, size_t size)
{
	kt_note_sigstatus st;
	kt_bytes text;
	uint8_t *out;
	size_t len;

	if (kt_note_add_sig(&signer, 0, data, size, &out, &len) != KT_OK)
		return;
	if (len <= size || memcmp(out, data, size) != 0 ||
	    kt_note_open(out, len, &signer.pub, 1, &text, &st) != KT_OK ||
	    !st.verified)
		abort();
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ready)
		setup();
	check_open(data, size);
	check_keys(data, size);
	check_line(data, size);
	check_add_sig(data, size);
	return 0;
}
