/*
 * narrow_avx512.c - the narrow fused path, AVX-512 instance: 16 samples per vector.
 * Compiled with the AVX-512 flags of kernels/meson.build. See narrow_impl.h.
 */
#include <immintrin.h>

#include "bnn_narrow.h"
#include "sigmoid_avx512.h"

#define VLEN 16
typedef __m512 V;
#define VZERO() _mm512_setzero_ps()
#define VSET1(x) _mm512_set1_ps(x)
#define VLOAD(p) _mm512_load_ps(p)
#define VSTORE(p, v) _mm512_store_ps((p), (v))
#define VADD(a, b) _mm512_add_ps((a), (b))
#define VSUB(a, b) _mm512_sub_ps((a), (b))
#define VMUL(a, b) _mm512_mul_ps((a), (b))
#define VFMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define VMAX0(v) _mm512_max_ps((v), _mm512_setzero_ps())
#define VRELU_SLOPE(a)                                                                         \
    _mm512_maskz_mov_ps(_mm512_cmp_ps_mask((a), _mm512_setzero_ps(), _CMP_GT_OQ),            \
                        _mm512_set1_ps(1.0f))
#define VSIGMOID(v) bnn_sigmoid_ps_avx512(v)
#define VTANH(v) bnn_tanh_ps_avx512(v)
#define NARROW_NAME bnn_narrow_grad_avx512
#define NARROW_WORK_NAME bnn_narrow_work_avx512
#define NARROW_REDUCE_NAME bnn_narrow_reduce_avx512

static inline double hsum_d(__m512 v)
{
    float t[16];
    _mm512_storeu_ps(t, v);
    double s = 0.0;
    for (int i = 0; i < 16; i++)
        s += t[i];
    return s;
}
#define VHSUM_D(v) hsum_d(v)

/* Columns of 16 sample-major rows into vectors. For row strides up to 16 the rows are read as
 * whole vectors (masked, so nothing past the last needed value is touched) and each column is
 * gathered with two-source permutes, planned once per call; otherwise lane by lane. */
typedef struct narrow_colplan {
    size_t ld;
    int ncols;
    int nvec;                  /* vectors covering 15 * ld + ncols floats */
    __mmask16 lastmask;        /* of the last of them */
    __m512i idx[16][8];        /* column k, vector pair q: permute indices */
    __mmask16 take[16][8];     /* lanes that pair q supplies */
} narrow_colplan;

static inline void narrow_plan_columns(narrow_colplan *p, size_t ld, int ncols)
{
    p->ld = ld;
    p->ncols = ncols;
    p->nvec = 0;
    if (ld < 1 || ld > 16 || ncols > 16)
        return;
    size_t need = 15 * ld + (size_t)ncols;
    p->nvec = (int)((need + 15) / 16);
    size_t rem = need - 16 * (size_t)(p->nvec - 1);
    p->lastmask = (__mmask16)(rem >= 16 ? 0xFFFF : (1u << rem) - 1);
    for (int k = 0; k < ncols; k++)
        for (int q = 0; q < (p->nvec + 1) / 2; q++) {
            int idx[16];
            unsigned take = 0;
            for (int i = 0; i < 16; i++) {
                int f = i * (int)ld + k, v = f >> 4;
                idx[i] = (f - 32 * q) & 31;
                if (v == 2 * q || v == 2 * q + 1)
                    take |= 1u << i;
            }
            p->idx[k][q] = _mm512_loadu_si512(idx);
            p->take[k][q] = (__mmask16)take;
        }
}

static inline void narrow_load_columns(const narrow_colplan *p, float *dst, size_t dstep,
                                       const float *rows, size_t cnt)
{
    if (cnt == 16 && p->nvec > 0) {
        __m512 v[18];
        for (int q = 0; q < p->nvec; q++)
            v[q] = q + 1 < p->nvec ? _mm512_loadu_ps(rows + 16 * q)
                                   : _mm512_maskz_loadu_ps(p->lastmask, rows + 16 * q);
        v[p->nvec] = _mm512_setzero_ps();
        const int pairs = (p->nvec + 1) / 2;
        for (int k = 0; k < p->ncols; k++) {
            __m512 r = _mm512_permutex2var_ps(v[0], p->idx[k][0], v[1]);
            for (int q = 1; q < pairs; q++)
                r = _mm512_mask_mov_ps(
                    r, p->take[k][q],
                    _mm512_permutex2var_ps(v[2 * q], p->idx[k][q], v[2 * q + 1]));
            _mm512_store_ps(dst + (size_t)k * dstep, r);
        }
        return;
    }
    for (int k = 0; k < p->ncols; k++)
        for (size_t i = 0; i < 16; i++)
            dst[(size_t)k * dstep + i] = i < cnt ? rows[i * p->ld + (size_t)k] : 0.0f;
}

#include "narrow_impl.h"
