/*
 * narrow_avx2.c - the narrow fused path, AVX2 + FMA instance: 8 samples per vector.
 * Compiled with the AVX2 flags of kernels/meson.build. See narrow_impl.h.
 */
#include <immintrin.h>

#include "bnn_narrow.h"
#include "sigmoid_avx2.h"

#define VLEN 8
typedef __m256 V;
#define VZERO() _mm256_setzero_ps()
#define VSET1(x) _mm256_set1_ps(x)
#define VLOAD(p) _mm256_load_ps(p)
#define VSTORE(p, v) _mm256_store_ps((p), (v))
#define VADD(a, b) _mm256_add_ps((a), (b))
#define VSUB(a, b) _mm256_sub_ps((a), (b))
#define VMUL(a, b) _mm256_mul_ps((a), (b))
#define VFMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define VMAX0(v) _mm256_max_ps((v), _mm256_setzero_ps())
#define VRELU_SLOPE(a)                                                                         \
    _mm256_and_ps(_mm256_cmp_ps((a), _mm256_setzero_ps(), _CMP_GT_OQ), _mm256_set1_ps(1.0f))
#define VSIGMOID(v) bnn_sigmoid_ps_avx2(v)
#define VTANH(v) bnn_tanh_ps_avx2(v)
#define NARROW_NAME bnn_narrow_grad_avx2
#define NARROW_WORK_NAME bnn_narrow_work_avx2
#define NARROW_REDUCE_NAME bnn_narrow_reduce_avx2

static inline double hsum_d(__m256 v)
{
    float t[8];
    _mm256_storeu_ps(t, v);
    double s = 0.0;
    for (int i = 0; i < 8; i++)
        s += t[i];
    return s;
}
#define VHSUM_D(v) hsum_d(v)

#include "narrow_impl.h"
