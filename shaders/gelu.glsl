// gelu.glsl: exact (erf) GELU shared by gelu.comp and the matmul epilogues.
//
//   gelu(x) = 0.5·x·(1 + erf(x/√2))
//
// GLSL has no erf, so erfc is built from two fitted pieces (coefficients are
// weighted least-squares fits made for vkdeit, rounded to fp32):
//   t = |x|/√2 < 1:  erf(t) = t·P(t²), P of degree 6     (rel. error 1.2e-9 in float64)
//   t ≥ 1:           erfc(t) = exp(−t²)·Q(u), u = 1/(1 + t/2), Q of degree 7,
//                    fitted on [1, 4.5] (rel. error 1.1e-9); t is clamped to 4.5
//                    inside Q only, where erfc(4.5) = 2e-10 makes the rest moot.
// gelu is then evaluated without cancellation: 0.5·x·(1 + erf) for t < 1,
// x − 0.5·x·erfc(t) for x ≥ 1·√2 and 0.5·x·erfc(t) for x ≤ −√2.
// In fp32 the result is within 1.1e-7 + one rounding of the result
// (|gelu|·2⁻²⁴) of the exact value over all of fp32 (checked in float32
// emulation and by gpu.TestGELU against a float64 twin).

float vk_erf_small(float z) {
    // erf(z) for |z| < 1.
    float s = z * z;
    float p = 7.854154683e-05;
    p = p * s - 8.010279853e-04;
    p = p * s + 5.188337062e-03;
    p = p * s - 2.685381658e-02;
    p = p * s + 1.128358543e-01;
    p = p * s - 3.761262596e-01;
    p = p * s + 1.128379107e+00;
    return z * p;
}

float vk_erfc_large(float t) {
    // erfc(t) for t >= 1.
    float u = 1.0 / (1.0 + 0.5 * min(t, 4.5));
    float q = 1.154523268e-01;
    q = q * u - 4.577932954e-01;
    q = q * u + 5.436792374e-01;
    q = q * u - 8.785618097e-02;
    q = q * u + 3.402702212e-01;
    q = q * u + 2.618283033e-01;
    q = q * u + 2.845777273e-01;
    q = q * u - 1.319494186e-04;
    return exp(-t * t) * q;
}

float gelu(float x) {
    float z = x * 0.70710678118654752;
    float t = abs(z);
    float h = 0.5 * x;
    if (t < 1.0) {
        return h * (1.0 + vk_erf_small(z));
    }
    float e = h * vk_erfc_large(t);
    return x >= 0.0 ? x - e : e;
}
