/*
 * kt_vrf_curve.c — edwards25519 arithmetic for VRF verification, on PUBLIC
 * values only (vrf_int.h).
 *
 * Why not libsodium: its public edwards25519 API decodes and re-encodes
 * both operands of every addition (crypto_core_ed25519_add: two square
 * roots and an inversion) and runs a prime-order-subgroup check (a second
 * scalar multiplication) inside every crypto_scalarmult_ed25519_noclamp.
 * RFC 9381 verification needs U = s*B - c*Y and V = s*H - c*Gamma on
 * points that may lie outside the subgroup; with libsodium's API that cost
 * 5.2 M instructions per verification, 1.2 M here with a prepared key (the
 * numbers: docs/BENCHMARKS.md, "client: verifying a lookup").
 *
 * Everything here runs in VARIABLE TIME: branches and table indices depend
 * on the scalars and points.  The VRF verifier only handles public values
 * (the public key, the proof, the challenge); the prover keeps libsodium's
 * constant-time multiplications for its secrets.
 *
 * Field elements mod p = 2^255 - 19: five unsigned 64-bit limbs of 51 bits
 * (radix 2^51).  Invariant: every limb of every element produced here is
 * below 2^52 (each operation ends with a carry pass), which keeps every
 * 5-term sum of limb products below 2^112.
 * Points: twisted Edwards -x^2 + y^2 = 1 + d*x^2*y^2 in extended
 * coordinates (X:Y:Z:T), x = X/Z, y = Y/Z, x*y = T/Z.  The addition and
 * doubling formulas (Hisil, Wong, Carter, Dawson 2008, for a = -1) are
 * complete on this curve (a square, d not a square), so they are exact for
 * every curve point, including the small-order ones and points with a
 * torsion component.
 */
#include "vrf_int.h"

#include <string.h>

#define MASK51 ((UINT64_C(1) << 51) - 1)

typedef kt_vrf_fe fe;
typedef kt_vrf_ge ge;

/* ---- 64 x 64 -> 128-bit products --------------------------------------- */

#if defined(__SIZEOF_INT128__) && !defined(KT_VRF_NO_INT128)
typedef unsigned __int128 u128;

static inline u128 mul64(uint64_t a, uint64_t b)
{
	return (u128)a * b;
}

static inline u128 add128(u128 a, u128 b)
{
	return a + b;
}

static inline u128 add64(u128 a, uint64_t b)
{
	return a + b;
}

static inline uint64_t lo51(u128 a)
{
	return (uint64_t)a & MASK51;
}

/* a >> 51; a < 2^115 so that the result fits. */
static inline uint64_t shr51(u128 a)
{
	return (uint64_t)(a >> 51);
}
#else
/* Portable version (no 128-bit integer type).  To test it on a 64-bit
 * machine, build tests/unit/test_vrf.c with -DKT_VRF_NO_INT128. */
typedef struct u128 {
	uint64_t lo, hi;
} u128;

static u128 mul64(uint64_t a, uint64_t b)
{
	uint64_t a0 = a & 0xffffffffu, a1 = a >> 32;
	uint64_t b0 = b & 0xffffffffu, b1 = b >> 32;
	uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
	uint64_t mid = (p00 >> 32) + (p01 & 0xffffffffu) + (p10 & 0xffffffffu);
	u128 r;

	r.lo = (mid << 32) | (p00 & 0xffffffffu);
	r.hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
	return r;
}

static u128 add128(u128 a, u128 b)
{
	u128 r;

	r.lo = a.lo + b.lo;
	r.hi = a.hi + b.hi + (r.lo < a.lo);
	return r;
}

static u128 add64(u128 a, uint64_t b)
{
	u128 r;

	r.lo = a.lo + b;
	r.hi = a.hi + (r.lo < a.lo);
	return r;
}

static uint64_t lo51(u128 a)
{
	return a.lo & MASK51;
}

static uint64_t shr51(u128 a)
{
	return (a.lo >> 51) | (a.hi << 13);
}
#endif

/* ---- constants ---------------------------------------------------------- */

/* d = -121665/121666, 2d and sqrt(-1) = 2^((p-1)/4) mod p, in limbs (the
 * tests check d*121666 = -121665, 2d = d + d and sqrtm1^2 = -1). */
static const fe fe_d = {{0x34dca135978a3, 0x1a8283b156ebd, 0x5e7a26001c029,
			 0x739c663a03cbb, 0x52036cee2b6ff}};
static const fe fe_d2 = {{0x69b9426b2f159, 0x35050762add7a, 0x3cf44c0038052,
			  0x6738cc7407977, 0x2406d9dc56dff}};
static const fe fe_sqrtm1 = {{0x61b274a0ea0b0, 0xd5a5fc8f189d, 0x7ef5e9cbd0c60,
			      0x78595a6804c9e, 0x2b8324804fc1d}};

/* The base point B of RFC 8032 (y = 4/5, x even). */
static const uint8_t base_enc[32] = {
	0x58, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
	0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
	0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
	0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
};

/* ---- field ---------------------------------------------------------------- */

static void fe_0(fe *h)
{
	memset(h, 0, sizeof(*h));
}

static void fe_1(fe *h)
{
	fe_0(h);
	h->v[0] = 1;
}

/* Carry pass: limbs below 2^63 in, every limb below 2^52 out. */
static void fe_carry(fe *h)
{
	uint64_t c;

	c = h->v[0] >> 51;
	h->v[0] &= MASK51;
	h->v[1] += c;
	c = h->v[1] >> 51;
	h->v[1] &= MASK51;
	h->v[2] += c;
	c = h->v[2] >> 51;
	h->v[2] &= MASK51;
	h->v[3] += c;
	c = h->v[3] >> 51;
	h->v[3] &= MASK51;
	h->v[4] += c;
	c = h->v[4] >> 51;
	h->v[4] &= MASK51;
	h->v[0] += 19 * c;
}

static void fe_add(fe *h, const fe *f, const fe *g)
{
	size_t i;

	for (i = 0; i < 5; i++)
		h->v[i] = f->v[i] + g->v[i];
	fe_carry(h);
}

/* h = f - g, computed as f + 4p - g (every limb of 4p is above 2^52). */
static void fe_sub(fe *h, const fe *f, const fe *g)
{
	static const uint64_t four_p[5] = {
		(MASK51 - 18) * 4, MASK51 * 4, MASK51 * 4, MASK51 * 4, MASK51 * 4,
	};
	size_t i;

	for (i = 0; i < 5; i++)
		h->v[i] = f->v[i] + four_p[i] - g->v[i];
	fe_carry(h);
}

static void fe_neg(fe *h, const fe *f)
{
	fe z;

	fe_0(&z);
	fe_sub(h, &z, f);
}

/* Reduces the five 128-bit column sums of a product into h. */
static void fe_reduce(fe *h, u128 t0, u128 t1, u128 t2, u128 t3, u128 t4)
{
	uint64_t c;

	h->v[0] = lo51(t0);
	t1 = add64(t1, shr51(t0));
	h->v[1] = lo51(t1);
	t2 = add64(t2, shr51(t1));
	h->v[2] = lo51(t2);
	t3 = add64(t3, shr51(t2));
	h->v[3] = lo51(t3);
	t4 = add64(t4, shr51(t3));
	h->v[4] = lo51(t4);
	/* t4 has no factor-19 terms: its carry is below 2^56. */
	h->v[0] += 19 * shr51(t4);
	c = h->v[0] >> 51;
	h->v[0] &= MASK51;
	h->v[1] += c;
}

/* h = f * g.  A product of limbs at positions i + j >= 5 wraps to
 * i + j - 5 times 19 (2^255 = 19 mod p). */
static void fe_mul(fe *h, const fe *f, const fe *g)
{
	const uint64_t *a = f->v, *b = g->v;
	uint64_t b1 = 19 * b[1], b2 = 19 * b[2], b3 = 19 * b[3], b4 = 19 * b[4];
	u128 t0, t1, t2, t3, t4;

	t0 = add128(add128(add128(add128(mul64(a[0], b[0]), mul64(a[1], b4)),
				  mul64(a[2], b3)), mul64(a[3], b2)), mul64(a[4], b1));
	t1 = add128(add128(add128(add128(mul64(a[0], b[1]), mul64(a[1], b[0])),
				  mul64(a[2], b4)), mul64(a[3], b3)), mul64(a[4], b2));
	t2 = add128(add128(add128(add128(mul64(a[0], b[2]), mul64(a[1], b[1])),
				  mul64(a[2], b[0])), mul64(a[3], b4)), mul64(a[4], b3));
	t3 = add128(add128(add128(add128(mul64(a[0], b[3]), mul64(a[1], b[2])),
				  mul64(a[2], b[1])), mul64(a[3], b[0])), mul64(a[4], b4));
	t4 = add128(add128(add128(add128(mul64(a[0], b[4]), mul64(a[1], b[3])),
				  mul64(a[2], b[2])), mul64(a[3], b[1])), mul64(a[4], b[0]));
	fe_reduce(h, t0, t1, t2, t3, t4);
}

/* h = f^2 (the products of fe_mul with the symmetric terms merged). */
static void fe_sq(fe *h, const fe *f)
{
	const uint64_t *a = f->v;
	uint64_t d0 = 2 * a[0], d1 = 2 * a[1], d2 = 2 * a[2];
	uint64_t a3_19 = 19 * a[3], a4_19 = 19 * a[4];
	u128 t0, t1, t2, t3, t4;

	t0 = add128(add128(mul64(a[0], a[0]), mul64(d1, a4_19)), mul64(d2, a3_19));
	t1 = add128(add128(mul64(d0, a[1]), mul64(d2, a4_19)), mul64(a[3], a3_19));
	t2 = add128(add128(mul64(d0, a[2]), mul64(a[1], a[1])), mul64(2 * a[3], a4_19));
	t3 = add128(add128(mul64(d0, a[3]), mul64(d1, a[2])), mul64(a[4], a4_19));
	t4 = add128(add128(mul64(d0, a[4]), mul64(d1, a[3])), mul64(a[2], a[2]));
	fe_reduce(h, t0, t1, t2, t3, t4);
}

/* h = f^(2^n), n >= 1. */
static void fe_sqn(fe *h, const fe *f, unsigned n)
{
	fe_sq(h, f);
	while (--n > 0)
		fe_sq(h, h);
}

static uint64_t load64(const uint8_t *p)
{
	uint64_t r = 0;
	size_t i;

	for (i = 8; i-- > 0;)
		r = (r << 8) | p[i];
	return r;
}

static void store64(uint8_t *p, uint64_t v)
{
	size_t i;

	for (i = 0; i < 8; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

/* Bits 0..254 of s (bit 255 ignored), not reduced: a value >= p is
 * accepted here; the callers that must refuse it check first. */
static void fe_frombytes(fe *h, const uint8_t s[32])
{
	h->v[0] = load64(s) & MASK51;
	h->v[1] = (load64(s + 6) >> 3) & MASK51;
	h->v[2] = (load64(s + 12) >> 6) & MASK51;
	h->v[3] = (load64(s + 19) >> 1) & MASK51;
	h->v[4] = (load64(s + 24) >> 12) & MASK51;
}

/* The canonical encoding (value < p), bit 255 clear. */
static void fe_tobytes(uint8_t s[32], const fe *f)
{
	fe t = *f;
	uint64_t q, c;

	/* After two passes the value is below 2^255 + 19. */
	fe_carry(&t);
	fe_carry(&t);
	/* q = 1 iff value + 19 >= 2^255, i.e. value >= p: subtract p once. */
	q = (t.v[0] + 19) >> 51;
	q = (t.v[1] + q) >> 51;
	q = (t.v[2] + q) >> 51;
	q = (t.v[3] + q) >> 51;
	q = (t.v[4] + q) >> 51;
	t.v[0] += 19 * q;
	c = t.v[0] >> 51;
	t.v[0] &= MASK51;
	t.v[1] += c;
	c = t.v[1] >> 51;
	t.v[1] &= MASK51;
	t.v[2] += c;
	c = t.v[2] >> 51;
	t.v[2] &= MASK51;
	t.v[3] += c;
	c = t.v[3] >> 51;
	t.v[3] &= MASK51;
	t.v[4] += c;
	t.v[4] &= MASK51; /* drops q * 2^255 */
	store64(s, t.v[0] | (t.v[1] << 51));
	store64(s + 8, (t.v[1] >> 13) | (t.v[2] << 38));
	store64(s + 16, (t.v[2] >> 26) | (t.v[3] << 25));
	store64(s + 24, (t.v[3] >> 39) | (t.v[4] << 12));
}

static int fe_is_zero(const fe *f)
{
	uint8_t s[32];
	uint8_t acc = 0;
	size_t i;

	fe_tobytes(s, f);
	for (i = 0; i < 32; i++)
		acc |= s[i];
	return acc == 0;
}

static int fe_equal(const fe *f, const fe *g)
{
	fe t;

	fe_sub(&t, f, g);
	return fe_is_zero(&t);
}

/* The "sign" of RFC 8032: the low bit of the canonical value. */
static int fe_is_negative(const fe *f)
{
	uint8_t s[32];

	fe_tobytes(s, f);
	return s[0] & 1;
}

/* z^(2^250 - 1) and z^11, the common part of inversion and the square
 * root exponent. */
static void fe_pow_2_250_1(fe *z250, fe *z11, const fe *z)
{
	fe z2, z9, t, z5, z10, z20, z50, z100;

	fe_sq(&z2, z);                 /* 2 */
	fe_sqn(&t, &z2, 2);            /* 8 */
	fe_mul(&z9, &t, z);            /* 9 */
	fe_mul(z11, &z9, &z2);         /* 11 */
	fe_sq(&t, z11);                /* 22 */
	fe_mul(&z5, &t, &z9);          /* 31 = 2^5 - 1 */
	fe_sqn(&t, &z5, 5);
	fe_mul(&z10, &t, &z5);         /* 2^10 - 1 */
	fe_sqn(&t, &z10, 10);
	fe_mul(&z20, &t, &z10);        /* 2^20 - 1 */
	fe_sqn(&t, &z20, 20);
	fe_mul(&t, &t, &z20);          /* 2^40 - 1 */
	fe_sqn(&t, &t, 10);
	fe_mul(&z50, &t, &z10);        /* 2^50 - 1 */
	fe_sqn(&t, &z50, 50);
	fe_mul(&z100, &t, &z50);       /* 2^100 - 1 */
	fe_sqn(&t, &z100, 100);
	fe_mul(&t, &t, &z100);         /* 2^200 - 1 */
	fe_sqn(&t, &t, 50);
	fe_mul(z250, &t, &z50);        /* 2^250 - 1 */
}

/* h = z^(p - 2) = 1/z (0 for z = 0). */
static void fe_invert(fe *h, const fe *z)
{
	fe z250, z11, t;

	fe_pow_2_250_1(&z250, &z11, z);
	fe_sqn(&t, &z250, 5);          /* 2^255 - 32 */
	fe_mul(h, &t, &z11);           /* 2^255 - 21 = p - 2 */
}

/* h = z^((p - 5) / 8) = z^(2^252 - 3). */
static void fe_pow22523(fe *h, const fe *z)
{
	fe z250, z11, t;

	fe_pow_2_250_1(&z250, &z11, z);
	fe_sqn(&t, &z250, 2);          /* 2^252 - 4 */
	fe_mul(h, &t, z);              /* 2^252 - 3 */
}

/* out[i] = 1/in[i] for i < n (n <= KT_VRF_MAX_BATCH) with one inversion
 * (Montgomery's trick); in and out may be the same array. */
static void fe_batch_invert(fe *out, const fe *in, size_t n)
{
	fe acc[KT_VRF_MAX_BATCH], inv, t;
	size_t i;

	if (n == 0)
		return;
	acc[0] = in[0];
	for (i = 1; i < n; i++)
		fe_mul(&acc[i], &acc[i - 1], &in[i]);
	fe_invert(&inv, &acc[n - 1]);
	for (i = n - 1; i > 0; i--) {
		fe_mul(&t, &inv, &acc[i - 1]);  /* 1/in[i] */
		fe_mul(&inv, &inv, &in[i]);     /* 1/(in[0]..in[i-1]) */
		out[i] = t;
	}
	out[0] = inv;
}

/* ---- points: representations ---------------------------------------- */

/* Projective (X:Y:Z), enough for a doubling. */
typedef struct ge_p2 {
	fe X, Y, Z;
} ge_p2;

/* "Completed" result of an addition or doubling: X = E*F, Y = G*H,
 * Z = F*G, T = E*H. */
typedef struct ge_cp {
	fe E, F, G, H;
} ge_cp;

/* A point ready to be added: (Y+X, Y-X, 2Z, 2d*T). */
typedef struct ge_cached {
	fe ypx, ymx, z2, t2d;
} ge_cached;

static void ge_identity(ge *p)
{
	fe_0(&p->X);
	fe_1(&p->Y);
	fe_1(&p->Z);
	fe_0(&p->T);
}

static void cp_to_p2(ge_p2 *r, const ge_cp *c)
{
	fe_mul(&r->X, &c->E, &c->F);
	fe_mul(&r->Y, &c->G, &c->H);
	fe_mul(&r->Z, &c->F, &c->G);
}

static void cp_to_p3(ge *r, const ge_cp *c)
{
	fe_mul(&r->X, &c->E, &c->F);
	fe_mul(&r->Y, &c->G, &c->H);
	fe_mul(&r->Z, &c->F, &c->G);
	fe_mul(&r->T, &c->E, &c->H);
}

static void ge_to_cached(ge_cached *r, const ge *p)
{
	fe_add(&r->ypx, &p->Y, &p->X);
	fe_sub(&r->ymx, &p->Y, &p->X);
	fe_add(&r->z2, &p->Z, &p->Z);
	fe_mul(&r->t2d, &p->T, &fe_d2);
}

/*
 * Doubling (a = -1): with A = X^2, B = Y^2, C = 2Z^2:
 * E = A + B - (X+Y)^2 = -2XY, G = A - B, F = C + G, H = A + B.
 * (All four of the textbook E, F, G, H negated: the same point.)
 */
static void p2_dbl(ge_cp *r, const ge_p2 *p)
{
	fe a, b, c, xy;

	fe_sq(&a, &p->X);
	fe_sq(&b, &p->Y);
	fe_sq(&c, &p->Z);
	fe_add(&c, &c, &c);
	fe_add(&xy, &p->X, &p->Y);
	fe_sq(&xy, &xy);
	fe_add(&r->H, &a, &b);
	fe_sub(&r->E, &r->H, &xy);
	fe_sub(&r->G, &a, &b);
	fe_add(&r->F, &c, &r->G);
}

static void p3_dbl(ge_cp *r, const ge *p)
{
	ge_p2 q;

	q.X = p->X;
	q.Y = p->Y;
	q.Z = p->Z;
	p2_dbl(r, &q);
}

/*
 * Addition p + q (neg: p - q).  A = (Y1-X1)(Y2-X2), B = (Y1+X1)(Y2+X2),
 * C = T1*2d*T2, D = 2*Z1*Z2; E = B - A, F = D - C, G = D + C, H = B + A.
 * -q swaps Y2+X2 with Y2-X2 and negates T2.  z2 is 2*Z2 (cached) or NULL
 * for an affine q (Z2 = 1).
 */
static void add_parts(ge_cp *r, const ge *p, const fe *ypx, const fe *ymx,
		      const fe *t2d, const fe *z2, int neg)
{
	fe a, b, c, d, s, t;

	fe_sub(&t, &p->Y, &p->X);
	fe_mul(&a, &t, neg ? ypx : ymx);
	fe_add(&s, &p->Y, &p->X);
	fe_mul(&b, &s, neg ? ymx : ypx);
	fe_mul(&c, &p->T, t2d);
	if (z2 != NULL)
		fe_mul(&d, &p->Z, z2);
	else
		fe_add(&d, &p->Z, &p->Z);
	fe_sub(&r->E, &b, &a);
	fe_add(&r->H, &b, &a);
	if (neg) {
		fe_add(&r->F, &d, &c);
		fe_sub(&r->G, &d, &c);
	} else {
		fe_sub(&r->F, &d, &c);
		fe_add(&r->G, &d, &c);
	}
}

static void add_cached(ge_cp *r, const ge *p, const ge_cached *q, int neg)
{
	add_parts(r, p, &q->ypx, &q->ymx, &q->t2d, &q->z2, neg);
}

static void add_niels(ge_cp *r, const ge *p, const kt_vrf_niels *q, int neg)
{
	add_parts(r, p, &q->ypx, &q->ymx, &q->xy2d, NULL, neg);
}

/* ---- points: encoding --------------------------------------------------- */

int kt_vrf_ge_decode(kt_vrf_ge *p, const uint8_t s[32])
{
	static const uint8_t p_le[32] = {
		0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
	};
	fe y, u, v, v3, x, t, vx2;
	int sign = s[31] >> 7;
	size_t i = 32;

	/* y = bits 0..254 must be < p: compare from the top byte down. */
	while (i-- > 0) {
		uint8_t b = (uint8_t)(i == 31 ? s[i] & 0x7f : s[i]);

		if (b != p_le[i]) {
			if (b > p_le[i])
				return KT_ERR_VRF_BAD_POINT;
			break;
		}
		if (i == 0)
			return KT_ERR_VRF_BAD_POINT; /* y == p */
	}
	fe_frombytes(&y, s);
	/* x^2 = u / v with u = y^2 - 1, v = d*y^2 + 1 (v is never 0: d is
	 * not a square).  Candidate x = u*v^3 * (u*v^7)^((p-5)/8). */
	fe_sq(&t, &y);
	fe_mul(&v, &t, &fe_d);
	fe_1(&x);
	fe_sub(&u, &t, &x);
	fe_add(&v, &v, &x);
	fe_sq(&t, &v);
	fe_mul(&v3, &t, &v);           /* v^3 */
	fe_sq(&t, &v3);
	fe_mul(&t, &t, &v);            /* v^7 */
	fe_mul(&t, &t, &u);            /* u*v^7 */
	fe_pow22523(&t, &t);
	fe_mul(&t, &t, &v3);
	fe_mul(&x, &t, &u);
	fe_sq(&t, &x);
	fe_mul(&vx2, &t, &v);
	if (!fe_equal(&vx2, &u)) {
		fe_neg(&t, &u);
		if (!fe_equal(&vx2, &t))
			return KT_ERR_VRF_BAD_POINT; /* y has no x: off the curve */
		fe_mul(&x, &x, &fe_sqrtm1);
	}
	if (fe_is_zero(&x) && sign)
		return KT_ERR_VRF_BAD_POINT; /* RFC 8032 §5.1.3 step 4 */
	if (fe_is_negative(&x) != sign)
		fe_neg(&x, &x);
	p->X = x;
	p->Y = y;
	fe_1(&p->Z);
	fe_mul(&p->T, &x, &y);
	return KT_OK;
}

void kt_vrf_ge_encode_many(uint8_t (*s)[32], const kt_vrf_ge *const *p,
			   size_t n)
{
	fe zi[KT_VRF_MAX_BATCH], x, y;
	size_t i, k;

	memset(zi, 0, sizeof(zi));
	for (; n > 0; n -= k, p += k, s += k) {
		k = n < KT_VRF_MAX_BATCH ? n : KT_VRF_MAX_BATCH;
		for (i = 0; i < k; i++)
			zi[i] = p[i]->Z;
		fe_batch_invert(zi, zi, k);
		for (i = 0; i < k; i++) {
			fe_mul(&x, &p[i]->X, &zi[i]);
			fe_mul(&y, &p[i]->Y, &zi[i]);
			fe_tobytes(s[i], &y);
			s[i][31] = (uint8_t)(s[i][31] | (fe_is_negative(&x) << 7));
		}
	}
}

void kt_vrf_ge_encode(uint8_t s[32], const kt_vrf_ge *p)
{
	kt_vrf_ge_encode_many((uint8_t (*)[32])s, &p, 1);
}

int kt_vrf_ge_is_identity(const kt_vrf_ge *p)
{
	/* x = X/Z = 0 and y = Y/Z = 1 */
	return fe_is_zero(&p->X) && fe_equal(&p->Y, &p->Z);
}

int kt_vrf_ge_base(kt_vrf_ge *b)
{
	/* A valid constant (kt_vrf_int_field_selftest): cannot fail. */
	if (kt_vrf_ge_decode(b, base_enc) != KT_OK) {
		ge_identity(b);
		return KT_ERR_INTERNAL;
	}
	return KT_OK;
}

/* ---- points: arithmetic -------------------------------------------------- */

void kt_vrf_ge_add(kt_vrf_ge *r, const kt_vrf_ge *p, const kt_vrf_ge *q)
{
	ge_cached c;
	ge_cp t;

	ge_to_cached(&c, q);
	add_cached(&t, p, &c, 0);
	cp_to_p3(r, &t);
}

void kt_vrf_ge_dbl_n(kt_vrf_ge *r, const kt_vrf_ge *p, unsigned n)
{
	ge_p2 q;
	ge_cp t;

	if (n == 0) {
		*r = *p;
		return;
	}
	q.X = p->X;
	q.Y = p->Y;
	q.Z = p->Z;
	for (; n > 1; n--) {
		p2_dbl(&t, &q);
		cp_to_p2(&q, &t);
	}
	p2_dbl(&t, &q);
	cp_to_p3(r, &t);
}

void kt_vrf_ge_mul8(kt_vrf_ge *r, const kt_vrf_ge *p)
{
	kt_vrf_ge_dbl_n(r, p, 3);
}

/* tab[i] = (2i+1)*p for i < n, as cached points (projective). */
static void odd_multiples(ge *tab, size_t n, const ge *p)
{
	ge_cached p2;
	ge_cp t;
	ge dbl;
	size_t i;

	p3_dbl(&t, p);
	cp_to_p3(&dbl, &t);
	ge_to_cached(&p2, &dbl);
	tab[0] = *p;
	for (i = 1; i < n; i++) {
		add_cached(&t, &tab[i - 1], &p2, 0);
		cp_to_p3(&tab[i], &t);
	}
}

void kt_vrf_ge_niels_table(kt_vrf_niels tab[KT_VRF_TABLE], const kt_vrf_ge *p)
{
	ge pts[KT_VRF_TABLE];
	fe zi[KT_VRF_TABLE], x, y;
	size_t i;

	odd_multiples(pts, KT_VRF_TABLE, p);
	for (i = 0; i < KT_VRF_TABLE; i++)
		zi[i] = pts[i].Z;
	fe_batch_invert(zi, zi, KT_VRF_TABLE);
	for (i = 0; i < KT_VRF_TABLE; i++) {
		fe_mul(&x, &pts[i].X, &zi[i]);
		fe_mul(&y, &pts[i].Y, &zi[i]);
		fe_add(&tab[i].ypx, &y, &x);
		fe_sub(&tab[i].ymx, &y, &x);
		fe_mul(&tab[i].xy2d, &x, &y);
		fe_mul(&tab[i].xy2d, &tab[i].xy2d, &fe_d2);
	}
}

void kt_vrf_niels_to_bytes(uint8_t out[KT_VRF_NIELS_BYTES],
			   const kt_vrf_niels *n)
{
	fe_tobytes(out, &n->ypx);
	fe_tobytes(out + 32, &n->ymx);
	fe_tobytes(out + 64, &n->xy2d);
}

void kt_vrf_niels_from_bytes(kt_vrf_niels *n,
			     const uint8_t in[KT_VRF_NIELS_BYTES])
{
	fe_frombytes(&n->ypx, in);
	fe_frombytes(&n->ymx, in + 32);
	fe_frombytes(&n->xy2d, in + 64);
}

/* ---- multi-scalar multiplication ------------------------------------------ */

#define NAF_LEN 257   /* a 256-bit scalar has at most 257 wNAF digits */

static void shr_words(uint64_t x[5], unsigned s)
{
	size_t i;

	for (i = 0; i < 4; i++)
		x[i] = (x[i] >> s) | (x[i + 1] << (64 - s));
	x[4] >>= s;
}

/*
 * Width-w NAF of the little-endian integer k[0..len) (len <= 32,
 * 2 <= w <= 7): naf[i] is 0 or odd with |naf[i]| < 2^(w-1), any w
 * consecutive digits hold at most one non-zero digit, and
 * sum naf[i] * 2^i = k.
 */
static void wnaf(int8_t naf[NAF_LEN], const uint8_t *k, size_t len, unsigned w)
{
	const uint64_t win = (uint64_t)1 << w, half = win >> 1;
	uint64_t x[5] = {0, 0, 0, 0, 0}, low, add;
	size_t i, pos = 0;
	unsigned step;

	for (i = 0; i < len; i++)
		x[i / 8] |= (uint64_t)k[i] << (8 * (i % 8));
	memset(naf, 0, NAF_LEN);
	while (pos < NAF_LEN && (x[0] | x[1] | x[2] | x[3] | x[4]) != 0) {
		step = 1;
		if (x[0] & 1) {
			low = x[0] & (win - 1);
			if (low >= half) {
				/* digit low - 2^w < 0: x += 2^w - low */
				naf[pos] = (int8_t)((int)low - (int)win);
				add = win - low;
				x[0] += add;
				if (x[0] < add) /* carry out of word 0 */
					for (i = 1; i < 5 && ++x[i] == 0; i++)
						;
			} else {
				naf[pos] = (int8_t)low;
				x[0] -= low;
			}
			step = w; /* the next w - 1 digits are 0 */
		}
		shr_words(x, step);
		pos += step;
	}
}

/* One term of a multi-scalar multiplication: +- (wNAF digits) * P, with
 * P's odd multiples either affine (niels) or projective (cached). */
typedef struct term {
	int8_t naf[NAF_LEN];
	const kt_vrf_niels *niels;
	const ge_cached *cached;
	int neg;
} term;

/* r = sum of the terms (Straus: one shared chain of doublings). */
static void multi_mul(ge *r, const term *t, size_t nt)
{
	ge_cp acc;
	ge_p2 q;
	ge p;
	size_t j;
	int i, top = -1, d;

	for (j = 0; j < nt; j++)
		for (i = NAF_LEN - 1; i > top; i--)
			if (t[j].naf[i] != 0) {
				top = i;
				break;
			}
	/* acc = identity in completed form: E = 0, F = G = H = 1. */
	fe_0(&acc.E);
	fe_1(&acc.F);
	fe_1(&acc.G);
	fe_1(&acc.H);
	for (i = top; i >= 0; i--) {
		if (i != top) {
			cp_to_p2(&q, &acc);
			p2_dbl(&acc, &q);
		}
		for (j = 0; j < nt; j++) {
			d = t[j].naf[i];
			if (d == 0)
				continue;
			cp_to_p3(&p, &acc);
			if (t[j].niels != NULL)
				add_niels(&acc, &p, &t[j].niels[(d < 0 ? -d : d) >> 1],
					  (d < 0) != t[j].neg);
			else
				add_cached(&acc, &p, &t[j].cached[(d < 0 ? -d : d) >> 1],
					   (d < 0) != t[j].neg);
		}
	}
	cp_to_p3(r, &acc);
}

void kt_vrf_ge_base_sub_mul(kt_vrf_ge *u, const uint8_t s[32],
			    const uint8_t c[16],
			    const kt_vrf_niels tb[KT_VRF_TABLE],
			    const kt_vrf_niels tb128[KT_VRF_TABLE],
			    const kt_vrf_niels ty[KT_VRF_TABLE])
{
	term t[3];

	/* s*B = s_lo*B + s_hi*(2^128 B): 128 doublings instead of 253. */
	wnaf(t[0].naf, s, 16, KT_VRF_TABLE_W);
	t[0].niels = tb;
	t[0].cached = NULL;
	t[0].neg = 0;
	wnaf(t[1].naf, s + 16, 16, KT_VRF_TABLE_W);
	t[1].niels = tb128;
	t[1].cached = NULL;
	t[1].neg = 0;
	wnaf(t[2].naf, c, 16, KT_VRF_TABLE_W);
	t[2].niels = ty;
	t[2].cached = NULL;
	t[2].neg = 1;
	multi_mul(u, t, 3);
}

/* Window of the tables built per call (8 odd multiples). */
#define CALL_W 5
#define CALL_TABLE 8

void kt_vrf_ge_double_mul(kt_vrf_ge *r, const uint8_t a[32], const kt_vrf_ge *p,
			  const uint8_t *b, size_t b_len, const kt_vrf_ge *q,
			  int sub)
{
	ge pts[CALL_TABLE];
	ge_cached tp[CALL_TABLE], tq[CALL_TABLE];
	term t[2];
	size_t i;

	odd_multiples(pts, CALL_TABLE, p);
	for (i = 0; i < CALL_TABLE; i++)
		ge_to_cached(&tp[i], &pts[i]);
	odd_multiples(pts, CALL_TABLE, q);
	for (i = 0; i < CALL_TABLE; i++)
		ge_to_cached(&tq[i], &pts[i]);
	wnaf(t[0].naf, a, 32, CALL_W);
	t[0].niels = NULL;
	t[0].cached = tp;
	t[0].neg = 0;
	wnaf(t[1].naf, b, b_len, CALL_W);
	t[1].niels = NULL;
	t[1].cached = tq;
	t[1].neg = sub;
	multi_mul(r, t, 2);
}

int kt_vrf_int_field_selftest(void)
{
	fe a, b;
	uint8_t s[32];

	/* d * 121666 + 121665 = 0, 2d = d + d, sqrtm1^2 + 1 = 0 */
	fe_0(&a);
	a.v[0] = 121666;
	fe_mul(&a, &a, &fe_d);
	fe_0(&b);
	b.v[0] = 121665;
	fe_add(&a, &a, &b);
	if (!fe_is_zero(&a))
		return KT_ERR_INTERNAL;
	fe_add(&a, &fe_d, &fe_d);
	if (!fe_equal(&a, &fe_d2))
		return KT_ERR_INTERNAL;
	fe_sq(&a, &fe_sqrtm1);
	fe_1(&b);
	fe_add(&a, &a, &b);
	if (!fe_is_zero(&a))
		return KT_ERR_INTERNAL;
	/* the base point: y = 4/5, positive x */
	fe_0(&a);
	a.v[0] = 5;
	fe_invert(&a, &a);
	fe_0(&b);
	b.v[0] = 4;
	fe_mul(&a, &a, &b);
	fe_tobytes(s, &a);
	if (memcmp(s, base_enc, 32) != 0) /* public constant: memcmp */
		return KT_ERR_INTERNAL;
	return KT_OK;
}
