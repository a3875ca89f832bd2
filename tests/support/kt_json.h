/*
 * kt_json.h — a small JSON reader for the tests' vector files.
 *
 * Test-only.  Parses a whole document into a tree; numbers keep their text so
 * that a uint64 such as 18446744073709551615 is read exactly.
 */
#ifndef KT_TEST_JSON_H
#define KT_TEST_JSON_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
	KT_JSON_NULL,
	KT_JSON_BOOL,
	KT_JSON_NUMBER,
	KT_JSON_STRING,
	KT_JSON_ARRAY,
	KT_JSON_OBJECT
} kt_json_type;

typedef struct kt_json kt_json;
struct kt_json {
	kt_json_type type;
	char *key;        /* member name inside an object, else NULL */
	char *text;       /* STRING: decoded UTF-8 (NUL-terminated); NUMBER: literal */
	size_t text_len;
	int boolean;
	kt_json *child;   /* first element / member */
	kt_json *next;    /* next sibling */
};

/* Parses text; returns NULL on malformed input.  Free with kt_json_free. */
kt_json *kt_json_parse(const char *text, size_t len);

/* Reads a file and parses it; NULL if unreadable or malformed. */
kt_json *kt_json_load(const char *path);

void kt_json_free(kt_json *j);

/* Member of an object by name, or NULL. */
const kt_json *kt_json_get(const kt_json *obj, const char *key);

/* Number of elements of an array (0 for null / non-arrays). */
size_t kt_json_len(const kt_json *arr);

/* i-th element of an array, or NULL. */
const kt_json *kt_json_at(const kt_json *arr, size_t i);

/* A NUMBER as uint64; aborts the test program if it is not one. */
uint64_t kt_json_u64(const kt_json *j);

/* Decodes a hex STRING into a malloc'd buffer (*len set); aborts on bad hex. */
uint8_t *kt_json_hex(const kt_json *j, size_t *len);

/* Decodes a standard-base64 STRING into a malloc'd buffer; aborts on bad input. */
uint8_t *kt_json_b64(const kt_json *j, size_t *len);

/* Reads a whole file into a NUL-terminated malloc'd buffer; NULL on error. */
char *kt_test_read_file(const char *path, size_t *len);

#endif
