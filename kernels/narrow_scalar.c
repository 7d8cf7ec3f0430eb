/*
 * narrow_scalar.c - the narrow fused path, portable scalar instance (one sample per "lane").
 * Baseline flags; the oracle for the SIMD instances' structure. See narrow_impl.h.
 */
#include <math.h>

#include "bnn_narrow.h"

#define VLEN 1
typedef float V;
#define VZERO() 0.0f
#define VSET1(x) (x)
#define VLOAD(p) (*(p))
#define VSTORE(p, v) (*(p) = (v))
#define VADD(a, b) ((a) + (b))
#define VSUB(a, b) ((a) - (b))
#define VMUL(a, b) ((a) * (b))
#define VFMA(a, b, c) ((a) * (b) + (c))
#define VMAX0(v) ((v) > 0.0f ? (v) : 0.0f)
#define VRELU_SLOPE(a) ((a) > 0.0f ? 1.0f : 0.0f)
#define VSIGMOID(v) (1.0f / (1.0f + expf(-(v))))
#define VTANH(v) tanhf(v)
#define VHSUM_D(v) ((double)(v))
#define NARROW_NAME bnn_narrow_grad_scalar
#define NARROW_WORK_NAME bnn_narrow_work_scalar
#define NARROW_REDUCE_NAME bnn_narrow_reduce_scalar

#include "narrow_impl.h"
