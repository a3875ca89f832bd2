/*
 * fuzz_checkpoint.c — libFuzzer target for checkpoint bodies (kt_checkpoint.h)
 * and cosignature lines (kt_cosig.h).
 *
 * Properties checked for every input (a violation aborts):
 *   - a body that parses formats back to the same bytes (one canonical
 *     form), and its origin check passes against itself;
 *   - a witness cosignature of a parsed body verifies with the signed time,
 *     and fails on the body with its last byte dropped;
 *   - the input as a cosignature line never verifies for a body it was not
 *     made for (the fixed body below is cosigned by nobody).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kt_checkpoint.h"
#include "kt_cosig.h"

/* Test-only state, built once per process. */
static kt_note_signer witness;
static int ready;

static const char fixed_body[] =
	"fuzz.example/log\n42\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n";

static void setup(void)
{
	uint8_t seed[KT_NOTE_SEED_BYTES];

	if (sodium_init() < 0)
		abort();
	memset(seed, 0x5a, sizeof(seed));
	if (kt_note_signer_from_seed(&witness, "fuzz.example/w1", 15,
				     KT_NOTE_KEY_COSIG_V1, seed) != KT_OK)
		abort();
	ready = 1;
}

static void check_body(const uint8_t *data, size_t size)
{
	kt_checkpoint cp;
	uint8_t *out, *line;
	size_t len, line_len;
	uint64_t t;

	if (kt_checkpoint_parse(&cp, data, size) != KT_OK)
		return;
	if (kt_checkpoint_format(&cp, &out, &len) != KT_OK || len != size ||
	    memcmp(out, data, size) != 0)
		abort();
	free(out);
	if (kt_checkpoint_check_origin(&cp, (const char *)cp.origin.p,
				       cp.origin.len) != KT_OK)
		abort();
	if (kt_cosig_sign(&witness, cp.size >> 1, data, size, &line,
			  &line_len) != KT_OK)
		abort();
	if (kt_cosig_verify(line, line_len, &witness.pub, data, size, &t) !=
		    KT_OK || t != cp.size >> 1)
		abort();
	if (kt_cosig_verify(line, line_len, &witness.pub, data, size - 1, &t) ==
	    KT_OK)
		abort();
	free(line);
}

static void check_line(const uint8_t *data, size_t size)
{
	uint64_t t;

	if (kt_cosig_verify(data, size, &witness.pub, (const uint8_t *)fixed_body,
			    strlen(fixed_body), &t) == KT_OK)
		abort();
	if (t != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ready)
		setup();
	check_body(data, size);
	check_line(data, size);
	return 0;
}
