/* kt_cosig.c — C2SP tlog-cosignature "cosignature/v1" (Ed25519, type 0x04). */
#include "kt_cosig.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "kt_checkpoint.h"

#define HEADER_LEN (sizeof(KT_COSIG_V1_HEADER) - 1)
#define TIME_PREFIX "time "
#define TIME_PREFIX_LEN 5
#define U64_DIGITS 20

int kt_cosig_message(uint64_t timestamp, const uint8_t *body, size_t body_len,
		     uint8_t **out, size_t *out_len)
{
	kt_checkpoint cp;
	char num[U64_DIGITS + 1];
	kt_wbuf w;
	int r;

	*out = NULL;
	*out_len = 0;
	if (timestamp > KT_COSIG_MAX_TIMESTAMP)
		return KT_ERR_INVALID_ARG;
	/* Only checkpoints are cosigned: the message then always has the
	 * three checkpoint lines after the two cosignature lines. */
	r = kt_checkpoint_parse(&cp, body, body_len);
	if (r != KT_OK)
		return r;
	snprintf(num, sizeof(num), "%" PRIu64, timestamp);
	kt_wbuf_init(&w, HEADER_LEN + TIME_PREFIX_LEN + U64_DIGITS + 1 +
				 KT_CHECKPOINT_MAX_BYTES);
	kt_put_fixed(&w, (const uint8_t *)KT_COSIG_V1_HEADER, HEADER_LEN);
	kt_put_fixed(&w, (const uint8_t *)TIME_PREFIX, TIME_PREFIX_LEN);
	kt_put_fixed(&w, (const uint8_t *)num, strlen(num));
	kt_put_u8(&w, '\n');
	kt_put_fixed(&w, body, body_len);
	return kt_wbuf_take(&w, out, out_len);
}

int kt_cosig_sign(const kt_note_signer *witness, uint64_t timestamp,
		  const uint8_t *body, size_t body_len, uint8_t **line,
		  size_t *line_len)
{
	*line = NULL;
	*line_len = 0;
	if (witness == NULL)
		return KT_ERR_INVALID_ARG;
	if (witness->pub.type != KT_NOTE_KEY_COSIG_V1)
		return KT_ERR_BAD_KEY_TYPE;
	return kt_note_sig_line(witness, timestamp, body, body_len, line,
				line_len);
}

int kt_cosig_verify(const uint8_t *line, size_t line_len,
		    const kt_note_verifier *witness, const uint8_t *body,
		    size_t body_len, uint64_t *timestamp)
{
	kt_note_sig sig;

	*timestamp = 0;
	if (witness == NULL)
		return KT_ERR_INVALID_ARG;
	if (witness->type != KT_NOTE_KEY_COSIG_V1)
		return KT_ERR_BAD_KEY_TYPE;
	if (kt_note_sig_parse(&sig, line, line_len) != KT_OK)
		return KT_ERR_COSIG_MALFORMED;
	return kt_note_sig_verify(&sig, witness, body, body_len, timestamp);
}
