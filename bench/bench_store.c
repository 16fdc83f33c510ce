/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include "bench/bench.h"
int shmq_bench_store(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "store bench: not built yet\n"); return 1; }
