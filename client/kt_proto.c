/*
 * kt_proto.c — protobuf-c glue of libkeytrail (see proto_int.h).
 */
#include <stdlib.h>
#include <string.h>

#include "proto_int.h"

kt_bytes kt_proto_bytes(const ProtobufCBinaryData *b)
{
	kt_bytes out = {NULL, 0};

	if (b != NULL && b->len > 0) {
		out.p = b->data;
		out.len = b->len;
	}
	return out;
}

int kt_proto_list(const ProtobufCBinaryData *items, size_t n, kt_bytes **out)
{
	size_t i;

	*out = NULL;
	if (n == 0)
		return KT_OK;
	/* n is bounded by the unpacked message, itself bounded by the gRPC
	 * receive cap. */
	*out = calloc(n, sizeof(**out));
	if (*out == NULL)
		return KT_ERR_NOMEM;
	for (i = 0; i < n; i++)
		(*out)[i] = kt_proto_bytes(&items[i]);
	return KT_OK;
}

int kt_proto_head_map(const Keytrail__V1__ReadHead *h, kt_proto_head *out)
{
	int r;

	memset(out, 0, sizeof(*out));
	r = kt_proto_list(h->consistency, h->n_consistency, &out->consistency);
	if (r == KT_OK)
		r = kt_proto_list(h->last_entry_inclusion,
				  h->n_last_entry_inclusion, &out->inclusion);
	if (r != KT_OK) {
		kt_proto_head_free(out);
		return r;
	}
	out->rh.checkpoint = kt_proto_bytes(&h->checkpoint);
	out->rh.tree_size = h->tree_size;
	out->rh.consistency = out->consistency;
	out->rh.n_consistency = h->n_consistency;
	out->rh.last_entry = kt_proto_bytes(&h->last_entry);
	out->rh.last_entry_inclusion = out->inclusion;
	out->rh.n_last_entry_inclusion = h->n_last_entry_inclusion;
	return KT_OK;
}

void kt_proto_head_free(kt_proto_head *h)
{
	if (h == NULL)
		return;
	free(h->consistency);
	free(h->inclusion);
	memset(h, 0, sizeof(*h));
}

int kt_proto_call(kt_client *c, const char *method, const ProtobufCMessage *msg,
		  uint8_t **resp, size_t *resp_len)
{
	uint8_t *req;
	size_t n;
	int r;

	*resp = NULL;
	*resp_len = 0;
	n = protobuf_c_message_get_packed_size(msg);
	req = malloc(n > 0 ? n : 1);
	if (req == NULL)
		return KT_ERR_NOMEM;
	if (protobuf_c_message_pack(msg, req) != n) {
		free(req);
		return KT_ERR_INTERNAL;
	}
	r = kt_client_call(c, method, req, n, resp, resp_len);
	free(req);
	return r;
}
