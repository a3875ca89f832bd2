/*
 * itest_restart.c — a clean restart keeps everything: stop ktd with
 * SIGTERM (it must exit 0), start it again on the same data directory, and
 * the node serves the same checkpoint byte for byte, with the same keys;
 * every proof still verifies (at the newest and every earlier checkpoint),
 * History is whole, and the log grows on consistently from where it was.
 */
#include "itest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keytrail/v1/directory.pb-c.h"

#define ACC_A "mailto:alice@example.org"
#define ACC_B "mailto:bob@example.org"

static void lookup_everywhere(itest_ktd *k, itest_trust *t, const char *acc)
{
	uint64_t sizes[ITEST_MAX_CPS];
	itest_lookup l;
	size_t i, n = t->n;

	memcpy(sizes, t->size, n * sizeof(sizes[0]));
	for (i = 0; i < n; i++) {
		itest_lookup_verified(k, t, acc, sizes[i], 0, &l);
		kt_account_value_free(&l.value);
	}
}

int main(int argc, char **argv)
{
	const char *extra[] = {"heartbeat_interval=1h", NULL};
	itest_ktd k;
	itest_trust t;
	itest_device a1, a2, b1;
	itest_lookup l;
	kt_update_op op;
	uint8_t *req, *cp1, *cp2, vrf1[KT_VRF_PUBLICKEY_BYTES];
	char vk1[sizeof(k.log_vk_str)];
	size_t len, len1, len2;
	uint64_t v = 0, size1 = 0, size2 = 0, t0;

	itest_init(argc, argv);
	t0 = itest_mono_ms();
	itest_ktd_new(&k, extra);
	itest_ktd_start(&k);
	itest_trust_init(&t, &k);

	itest_device_new(&a1, "alice-phone", KT_DEVICE_PRIMARY);
	itest_device_new(&a2, "alice-laptop", KT_DEVICE_COMPANION);
	itest_device_new(&b1, "bob-phone", KT_DEVICE_PRIMARY);
	req = itest_req_enrol(&k, ACC_A, &a1, itest_now_ms() + 600000, &len);
	itest_update_ok(&k, &t, req, len, &v, NULL);
	free(req);
	itest_op_add(&op, &a2);
	req = itest_req_signed(ACC_A, &op, v, &a1, &len);
	itest_update_ok(&k, &t, req, len, &v, NULL);
	free(req);
	itest_op_set_push(&op, "alice-laptop", "fcm:restart-test");
	req = itest_req_signed(ACC_A, &op, v, &a2, &len);
	itest_update_ok(&k, &t, req, len, &v, NULL);
	free(req);
	req = itest_req_enrol(&k, ACC_B, &b1, itest_now_ms() + 600000, &len);
	itest_update_ok(&k, &t, req, len, NULL, NULL);
	free(req);
	CHECK(v == 3);
	cp1 = itest_get_checkpoint(&k, &t, &len1, &size1);
	lookup_everywhere(&k, &t, ACC_A);
	memcpy(vk1, k.log_vk_str, sizeof(vk1));
	memcpy(vrf1, k.vrf_pk, sizeof(vrf1));

	itest_note("stopping at tree size %llu", (unsigned long long)size1);
	itest_ktd_stop(&k);
	itest_ktd_start(&k);
	itest_note("restarted on %s", k.addr);

	/* same keys, same checkpoint, byte for byte */
	CHECK(strcmp(vk1, k.log_vk_str) == 0);
	CHECK(memcmp(vrf1, k.vrf_pk, sizeof(vrf1)) == 0);
	cp2 = itest_get_checkpoint(&k, &t, &len2, &size2);
	CHECK(len1 == len2 && memcmp(cp1, cp2, len1) == 0);
	free(cp2);

	/* every proof still verifies, at every size */
	itest_lookup_verified(&k, &t, ACC_A, 0, size1, &l);
	CHECK(l.exists && l.leaf.version == 3 && l.value.count == 2);
	kt_account_value_free(&l.value);
	lookup_everywhere(&k, &t, ACC_A);
	lookup_everywhere(&k, &t, ACC_B);

	/* the log grows on from where it was, consistently */
	itest_op_remove(&op, "alice-phone");
	req = itest_req_signed(ACC_A, &op, v, &a2, &len);
	itest_update_ok(&k, &t, req, len, &v, NULL);
	free(req);
	CHECK(v == 4);
	itest_lookup_verified(&k, &t, ACC_A, 0, size1, &l);
	CHECK(l.exists && l.leaf.version == 4 && l.value.count == 1);
	CHECK(l.head.size > size1);
	kt_account_value_free(&l.value);
	itest_check_all_consistency(&k, &t, 100);
	itest_check_entries(&k, &t, 2);

	/* and once more: a second restart right after a write */
	itest_ktd_stop(&k);
	itest_ktd_start(&k);
	itest_lookup_verified(&k, &t, ACC_A, 0, size1, &l);
	CHECK(l.exists && l.leaf.version == 4);
	kt_account_value_free(&l.value);
	itest_ktd_stop(&k);
	itest_ktd_close_channel(&k);
	free(cp1);
	itest_note("ok (%llu ms)", (unsigned long long)(itest_mono_ms() - t0));
	return 0;
}
