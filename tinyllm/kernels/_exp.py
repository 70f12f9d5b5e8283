"""A vectorisable exp for non-positive arguments, in float32 and float64 (private helper of the Numba kernels).

Why: this Numba build calls libm's scalar `exp`, which stops LLVM from vectorising the softmax-style loops, and
exp is their whole cost. Softmax, cross-entropy, attention and GELU only ever need exp(t) for t <= 0 (after the
row max is subtracted), so a short polynomial that LLVM can vectorise is enough:

    exp(t) = 2^k * exp(r),   k = round(t / ln 2),   r = t - k ln 2 in [-ln2/2, ln2/2],

with exp(r) from its Taylor series (degree 7 in float32, 13 in float64: within ~1 ulp of np.exp) and 2^k built
directly from its IEEE-754 bit pattern. exp(-inf) = 0, NaN stays NaN, and results below the smallest normal
number (t < -87 in float32, t < -708 in float64) are flushed to 0 instead of becoming denormals.
"""
import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload


@intrinsic
def _int64_bits_as_float64(typingctx, bits):
    """Reinterpret the 64 bits of an int64 as a float64 (a free register move; what C's memcpy trick does)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


@intrinsic
def _int32_bits_as_float32(typingctx, bits):
    """Reinterpret the 32 bits of an int32 as a float32."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())
    return types.float32(types.int32), codegen


# float64 constants: ln 2 split in a high part (exact in k * LN2_HI for |k| < 2^11) and the low remainder
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_LO64 = -708.0  # exp(-708) ~ 3.3e-308, just above the smallest normal float64

# float32 constants are numpy float32 scalars so the arithmetic stays in float32 (twice the SIMD width)
_f32 = np.float32
_LOG2E32, _HALF32 = _f32(_LOG2E), _f32(0.5)
_LN2_HI32, _LN2_LO32 = _f32(0.693359375), _f32(-2.12194440e-4)
_LO32 = _f32(-87.0)  # exp(-87) ~ 1.6e-38, just above the smallest normal float32
_ZERO32 = _f32(0.0)
_C32 = tuple(_f32(1.0 / math.factorial(i)) for i in range(8))  # Taylor coefficients 1/i!
_C2, _C3, _C4, _C5, _C6, _C7 = _C32[2:]


@njit(fastmath={"contract"}, cache=True)
def _exp_nonpos64(t):
    """exp(t) for float64 t <= 0 (see the module docstring)."""
    tc = t if t > _LO64 else _LO64  # clamp first so k stays in range; the select below fixes the result
    k = np.floor(tc * _LOG2E + 0.5)
    r = (tc - k * _LN2_HI) - k * _LN2_LO
    p = 1.6059043836821613e-10  # 1/13!, then Horner down to 1/0!
    p = p * r + 2.08767569878681e-09
    p = p * r + 2.505210838544172e-08
    p = p * r + 2.755731922398589e-07
    p = p * r + 2.7557319223985893e-06
    p = p * r + 2.48015873015873e-05
    p = p * r + 1.984126984126984e-04
    p = p * r + 1.388888888888889e-03
    p = p * r + 8.333333333333333e-03
    p = p * r + 4.1666666666666664e-02
    p = p * r + 0.16666666666666666
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    two_k = _int64_bits_as_float64((np.int64(k) + 1023) << 52)  # exponent field = k + bias, mantissa 0
    if t >= _LO64:  # exp(-708) ~ 3.3e-308 is still normal; only t < -708 flushes
        return p * two_k
    return 0.0 if t <= _LO64 else t  # tiny or -inf -> 0; NaN falls through and stays NaN


@njit(fastmath={"contract"}, cache=True)
def _exp_nonpos32(t):
    """exp(t) for float32 t <= 0, computed in float32."""
    tc = t if t > _LO32 else _LO32
    k = np.floor(tc * _LOG2E32 + _HALF32)
    r = (tc - k * _LN2_HI32) - k * _LN2_LO32
    p = _C7 * r + _C6
    p = p * r + _C5
    p = p * r + _C4
    p = p * r + _C3
    p = p * r + _C2
    p = p * r + _HALF32 * _f32(2.0)  # 1/1!
    p = p * r + _HALF32 * _f32(2.0)  # 1/0!
    two_k = _int32_bits_as_float32(np.int32((np.int32(k) + np.int32(127)) << np.int32(23)))
    if t >= _LO32:
        return p * two_k
    return _ZERO32 if t <= _LO32 else t


def exp_nonpos(t):
    """exp(t) for t <= 0; from Python it is math.exp, inside @njit code it is the polynomial for t's dtype."""
    return math.exp(t)


@overload(exp_nonpos, inline="always")
def _exp_nonpos_overload(t):
    if t == types.float32:
        return lambda t: _exp_nonpos32(t)
    return lambda t: _exp_nonpos64(t)


def as_dtype_of(value, t):
    """value as a float of t's dtype; in @njit code this keeps float32 arithmetic in float32 (a Python float
    literal would promote it to float64, halving the SIMD width). From Python it returns value unchanged."""
    return value


@overload(as_dtype_of, inline="always")
def _as_dtype_of_overload(value, t):
    if t == types.float32:
        return lambda value, t: np.float32(value)
    return lambda value, t: np.float64(value)
