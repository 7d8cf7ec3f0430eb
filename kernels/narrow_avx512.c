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

#include "narrow_impl.h"
