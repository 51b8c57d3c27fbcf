/*
 * caps.h - what this node can do: CPU, cores, SIMD kernels, OS, memory, and two measurements
 * (memory read bandwidth and Q4_0 matrix-vector speed) for the cluster topology and the plan.
 *
 * The measurements take a few hundred milliseconds and are cached in <state_dir>/caps.json,
 * keyed by a format version, the CPU model, the core count, the SIMD kernel set and the thread
 * count: any of those changing (new hardware, another --threads, SHOAL_KERNELS=ref) measures
 * again; otherwise a start costs nothing. Nodes sharing a state dir measure one at a time (an
 * flock on caps.lock): the first measures, the others read its numbers, instead of each seeing a
 * share of a busy machine. A cached number measured on a busy machine stays until caps.json is
 * deleted (or the key changes). Decode speed is bounded by memory bandwidth (each
 * weight byte is read once per token) and, on slow cores, by the kernels: the plan can weigh
 * nodes by either.
 *
 *   mem_bw_gbs     a 256 MiB buffer (less when MemAvailable is under 1 GiB) summed by all threads,
 *                  best of 3 to 8 passes (as many as fit in 0.1 s), in 1e9 bytes/s. The buffer is
 *                  written first (faulting it in), in huge pages where the kernel gives them:
 *                  4 KiB faults would cost more than the measurement.
 *   matmul_gflops  a 4096x4096 Q4_0 weight times one Q8_0 vector with the dispatched vec_dot
 *                  kernel (what a forward pass uses), rows split over a pool, 2 flops per weight,
 *                  best of 3 to 20 passes (as many as fit in 0.1 s). The weight (9.4 MB) may sit in a large last-level
 *                  cache: this is the compute side; the bandwidth above is the memory side.
 */
#ifndef SHOAL_CAPS_H
#define SHOAL_CAPS_H

#include "base/base.h"

#define CAPS_FORMAT 1           /* version of caps.json and of the measurements; bump to re-measure everywhere */

typedef struct {
	char cpu[96];           /* /proc/cpuinfo "model name" (ARM: "Hardware", else "CPU part 0x..."); "unknown" */
	int cores;              /* online CPUs (sh_cpu_count) */
	char simd[48];          /* from the active kernels: "avx512 avx2", "avx2", "neon", "none" */
	char os[64];            /* uname: "Linux 6.1.0-18-amd64 x86_64" */
	uint64_t mem_total, mem_available;    /* /proc/meminfo MemTotal, MemAvailable (bytes); 0: unknown */
	double mem_bw_gbs;      /* measured read bandwidth, all threads, GB/s (1e9); 0: measurement failed */
	double matmul_gflops;   /* measured Q4_0 matrix-vector GFLOP/s, all threads; 0: measurement failed */
} node_caps;

/* Fills c. state_dir: where caps.json is read and written (NULL: measure, no cache). n_threads
 * <= 0: all cores. Initializes the kernel dispatch (quant_init(NULL)) if nothing did yet, and
 * otherwise measures the kernels already chosen. Always SH_OK: a failed measurement leaves its
 * field 0 and logs a warning, and a cache that cannot be read or written is measured around. */
int caps_detect(node_caps *c, const char *state_dir, int n_threads);
/* /proc/meminfo MemTotal and MemAvailable in bytes; 0 when unknown. Either pointer may be NULL. */
void caps_meminfo(uint64_t *total, uint64_t *available);

#endif
