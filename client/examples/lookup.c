/*
 * lookup.c — the smallest libkeytrail program: a verified lookup.
 *
 *   lookup CONFIG ACCOUNT
 *
 * CONFIG is a client configuration file (`ktd --dev` writes one to
 * <data_dir>/client.conf).  Prints the account's devices only after the
 * library verified the whole answer; on a failed verification prints the
 * evidence (JSON) and exits 2.
 *
 * Build against an installed libkeytrail:
 *   cc lookup.c $(pkg-config --cflags --libs keytrail) -o lookup
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <keytrail.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: lookup CONFIG ACCOUNT\n"
		   "  Looks ACCOUNT up with the client configuration CONFIG and\n"
		   "  prints its verified devices (libkeytrail %s).\n",
		kt_client_version());
}

static void print_hex(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		printf("%02x", p[i]);
}

static void print_lookup(const kt_lookup *l)
{
	kt_provenance_info pv;
	kt_device_info d;
	size_t i;

	if (!kt_lookup_present(l)) {
		printf("absent (proven at tree size %llu)\n",
		       (unsigned long long)kt_lookup_tree_size(l));
		return;
	}
	printf("version %llu at tree size %llu, %zu device(s)\n",
	       (unsigned long long)kt_lookup_version(l),
	       (unsigned long long)kt_lookup_tree_size(l),
	       kt_lookup_device_count(l));
	for (i = 0; kt_lookup_device(l, i, &d) == KT_OK; i++) {
		printf("  device %.*s kind %d enc ", (int)d.id_len,
		       (const char *)d.id, d.kind);
		print_hex(d.enc_pk, sizeof(d.enc_pk));
		printf(" push %.*s\n", (int)d.push_len,
		       d.push != NULL ? (const char *)d.push : "");
	}
	if (kt_lookup_provenance(l, &pv) == KT_OK)
		printf("  last change: provenance %d operation %d\n", pv.type,
		       pv.operation);
}

int main(int argc, char **argv)
{
	kt_client_config *cfg = NULL;
	kt_client *c = NULL;
	kt_lookup *l = NULL;
	char err[512], *json = NULL;
	int r, rc = 1;

	if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	if (argc != 3) {
		usage(stderr);
		return 1;
	}
	r = kt_client_config_new(&cfg);
	if (r == KT_OK)
		r = kt_client_config_load_file(cfg, argv[1], err, sizeof(err));
	if (r == KT_OK)
		r = kt_client_open(cfg, &c, err, sizeof(err));
	if (r != KT_OK) {
		fprintf(stderr, "lookup: %s (%s)\n", err, kt_errname(r));
		goto out;
	}
	r = kt_client_lookup(c, (const uint8_t *)argv[2], strlen(argv[2]), &l);
	if (r != KT_OK) {
		fprintf(stderr, "lookup: %s: %s\n", kt_errname(r), kt_strerror(r));
		if (kt_client_evidence_json(c, &json) == KT_OK) {
			printf("%s\n", json);
			rc = 2;
		}
		goto out;
	}
	print_lookup(l);
	rc = 0;
out:
	free(json);
	kt_lookup_free(l);
	kt_client_close(c);
	kt_client_config_free(cfg);
	return rc;
}
