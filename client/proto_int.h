/*
 * proto_int.h — protobuf-c glue of libkeytrail (kt_proto.c): packing a
 * request, mapping a ReadHead to the verifier's input.  Inside client/ only.
 */
#ifndef KT_CLIENT_PROTO_INT_H
#define KT_CLIENT_PROTO_INT_H

#include "client_int.h"
#include "keytrail/v1/common.pb-c.h"
#include "keytrail/v1/directory.pb-c.h"

/* A ReadHead as kt_verify_head takes it; the lists are heap (owned), the
 * bytes borrow from the unpacked message. */
typedef struct kt_proto_head {
	kt_read_head rh;
	kt_bytes *consistency;
	kt_bytes *inclusion;
} kt_proto_head;

/* A protobuf bytes field as a borrowed kt_bytes ({NULL, 0} when empty). */
kt_bytes kt_proto_bytes(const ProtobufCBinaryData *b);

/* Fills *out from h (borrowing the bytes).  KT_ERR_NOMEM; *out zeroed on
 * failure.  Free with kt_proto_head_free. */
KT_MUST_CHECK int kt_proto_head_map(const Keytrail__V1__ReadHead *h,
				    kt_proto_head *out);
void kt_proto_head_free(kt_proto_head *h);

/* A borrowed list of kt_bytes from n protobuf bytes (heap array; NULL
 * when n is 0).  KT_ERR_NOMEM. */
KT_MUST_CHECK int kt_proto_list(const ProtobufCBinaryData *items, size_t n,
				kt_bytes **out);

/* Packs msg and runs kt_client_call; on KT_OK *resp (heap) is the OK
 * response's bytes. */
KT_MUST_CHECK int kt_proto_call(kt_client *c, const char *method,
				const ProtobufCMessage *msg, uint8_t **resp,
				size_t *resp_len);

#endif /* KT_CLIENT_PROTO_INT_H */
