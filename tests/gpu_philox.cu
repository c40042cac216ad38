/* tests/gpu_philox.cu — cuRAND agrees with fp4kit's Philox: curand_init(seed, stream, 4*g) followed
 * by curand4() must equal fp4_sr_block16(seed, stream, g) on the host, and the device build of
 * fp4_sr_bits8 must equal the host build. This is what lets kernels use either cuRAND or the
 * shared inline Philox and still match the CPU reference bit for bit. */
#include <curand_kernel.h>
#include <stdlib.h>

#include "fp4kit/formats_inline.h"
#include "harness.h"

#define NCASE 4096

__global__ void curand_blocks_kernel(const unsigned long long *seed, const unsigned long long *stream,
                                     const unsigned long long *g, uint4 *out, uint32_t *bits, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    curandStatePhilox4_32_10_t st;
    curand_init(seed[i], stream[i], 4ull * g[i], &st);
    out[i] = curand4(&st);
    bits[i] = fp4_sr_bits8(seed[i], stream[i], g[i] * 16 + (unsigned long long)(i % 16));
}

static void test_curand_matches_host_philox(void) {
    unsigned long long hs[NCASE], ht[NCASE], hg[NCASE];
    fp4t_rng r;
    fp4t_rng_seed(&r, 7);
    for (int i = 0; i < NCASE; i++) {
        hs[i] = i < 8 ? (unsigned long long)i : fp4t_rng_u64(&r);
        ht[i] = i % 3 == 0 ? 0 : fp4t_rng_u64(&r);
        /* curand_init takes the offset 4*g as a 64-bit count, so the identity holds for g < 2^62 */
        hg[i] = i % 5 == 0 ? (unsigned long long)i : fp4t_rng_u64(&r) >> (2 + i % 40);
    }
    unsigned long long *ds, *dt, *dg;
    uint4 *dout;
    uint32_t *dbits;
    CU_ASSERT_FATAL(cudaMalloc(&ds, sizeof hs) == cudaSuccess);
    CU_ASSERT_FATAL(cudaMalloc(&dt, sizeof ht) == cudaSuccess);
    CU_ASSERT_FATAL(cudaMalloc(&dg, sizeof hg) == cudaSuccess);
    CU_ASSERT_FATAL(cudaMalloc(&dout, sizeof(uint4) * NCASE) == cudaSuccess);
    CU_ASSERT_FATAL(cudaMalloc(&dbits, sizeof(uint32_t) * NCASE) == cudaSuccess);
    cudaMemcpy(ds, hs, sizeof hs, cudaMemcpyHostToDevice);
    cudaMemcpy(dt, ht, sizeof ht, cudaMemcpyHostToDevice);
    cudaMemcpy(dg, hg, sizeof hg, cudaMemcpyHostToDevice);
    curand_blocks_kernel<<<(NCASE + 127) / 128, 128>>>(ds, dt, dg, dout, dbits, NCASE);
    CU_ASSERT_FATAL(cudaDeviceSynchronize() == cudaSuccess);
    uint4 *out = (uint4 *)malloc(sizeof(uint4) * NCASE);
    uint32_t *bits = (uint32_t *)malloc(sizeof(uint32_t) * NCASE);
    cudaMemcpy(out, dout, sizeof(uint4) * NCASE, cudaMemcpyDeviceToHost);
    cudaMemcpy(bits, dbits, sizeof(uint32_t) * NCASE, cudaMemcpyDeviceToHost);
    int bad = 0, badbits = 0;
    for (int i = 0; i < NCASE; i++) {
        uint32_t w[4];
        fp4_sr_block16(hs[i], ht[i], hg[i], w);
        if (w[0] != out[i].x || w[1] != out[i].y || w[2] != out[i].z || w[3] != out[i].w) {
            if (bad++ < 3)
                fprintf(stderr, "\n    case %d seed %llx stream %llx g %llx: curand %08x %08x %08x %08x host %08x %08x %08x %08x",
                        i, hs[i], ht[i], hg[i], out[i].x, out[i].y, out[i].z, out[i].w, w[0], w[1], w[2], w[3]);
        }
        if (bits[i] != fp4_sr_bits8(hs[i], ht[i], hg[i] * 16 + (unsigned long long)(i % 16))) badbits++;
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(badbits, 0);
    free(out);
    free(bits);
    cudaFree(ds); cudaFree(dt); cudaFree(dg); cudaFree(dout); cudaFree(dbits);
}

static CU_TestInfo tests[] = {
    {"curand Philox4_32_10 == host Philox (4096 keys/streams/counters)", test_curand_matches_host_philox},
    CU_TEST_INFO_NULL,
};
static CU_SuiteInfo suites[] = {{"gpu_philox", NULL, NULL, NULL, NULL, tests}, CU_SUITE_INFO_NULL};

int main(int argc, char **argv) { return fp4t_main(suites, argc, argv); }
