/*
 * stress_main.c - stress mode as a standalone program, for ThreadSanitizer
 * (which wants a fully instrumented executable, not a library loaded into
 * Python). kernel_model.sanitize builds it with every engine and core source
 * and one variant, with -fsanitize=thread; run it as
 *
 *   ./stress-NAME [connections] [classify-threads] [seed]
 *
 * Prints one line: "lingering N dropped N violations N" and exits 0.
 */
#include "fr_api.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    FR_STRESS_SPEC spec = {0};
    FR_STRESS_RESULT *out = calloc(1, sizeof *out);
    FR_STATS stats;
    if (!out)
        return 2;
    spec.connections = argc > 1 ? atoi(argv[1]) : 2000;
    spec.classify_threads = argc > 2 ? atoi(argv[2]) : 4;
    spec.seed = argc > 3 ? (uint64_t)atoll(argv[3]) : 1;
    spec.delete_threads = 1;
    spec.late_threads = 4;
    spec.data_packets = 2;
    spec.noise_permille = 200;
    spec.hold_spins = 1000;
    spec.open_capacity = 32767;
    spec.buckets = 1024;
    spec.poll_interval_us = 1000;
    spec.max_seconds = 300;
    int rc = fr_stress(&spec, out);
    if (rc != FR_OK) {
        fprintf(stderr, "stress failed to start (%d)\n", rc);
        return 2;
    }
    fr_stats(&stats);
    printf("lingering %d dropped %lld violations %d\n", out->lingering,
           (long long)stats.flows_dropped_table_full, fr_violations());
    for (int i = 0; i < fr_violations(); i++) {
        FR_VIOLATION v;
        fr_violation(i, &v);
        printf("violation %d %s\n", v.kind, v.detail);
    }
    free(out);
    return 0;
}
