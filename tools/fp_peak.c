/* fp_peak: the machine's 256-bit floating-point ceiling, the yardstick for llvmpipe's figures
 * (README, Known limits). Twelve independent chains per thread, all in registers, of
 *   fma:     a = a * m + c           (one vfmadd; llvmpipe never emits these for WGSL fma)
 *   mul+add: a = a * m + c unfused   (vmulps + vaddps: what llvmpipe emits for fma)
 * Prints vector operations per second over all threads, 8 float lanes each.
 *
 *   gcc -O3 -funroll-all-loops -mavx2 -mfma tools/fp_peak.c -o /tmp/fp_peak -lpthread
 *   /tmp/fp_peak 2
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ITERS 100000000L
#define CHAINS 12

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int fused;

static void *run(void *out) {
    __m256 a[CHAINS];
    const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < CHAINS; i++) a[i] = _mm256_set1_ps((float)i);
    if (fused) {
        for (long it = 0; it < ITERS / CHAINS; it++)
            for (int i = 0; i < CHAINS; i++) a[i] = _mm256_fmadd_ps(a[i], m, c);
    } else {
        for (long it = 0; it < ITERS / CHAINS; it++)
            for (int i = 0; i < CHAINS; i++) a[i] = _mm256_add_ps(_mm256_mul_ps(a[i], m), c);
    }
    float s = 0;
    for (int i = 0; i < CHAINS; i++) s += a[i][0];
    *(float *)out = s;
    return 0;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    if (threads < 1 || threads > 64) threads = 1;
    pthread_t th[64];
    float sink[64];
    for (fused = 1; fused >= 0; fused--) {
        double t = now();
        for (int i = 0; i < threads; i++) pthread_create(&th[i], 0, run, &sink[i]);
        for (int i = 0; i < threads; i++) pthread_join(th[i], 0);
        t = now() - t;
        double ops = (double)threads * (double)(ITERS / CHAINS * CHAINS) / t;
        printf("%d threads, %s: %.3g per s (%.3g GFLOP/s, 8 lanes x 2 flops)\n", threads,
               fused ? "fma (vector ops)" : "mul+add (vector pairs)", ops, ops * 16 / 1e9);
    }
    return 0;
}
