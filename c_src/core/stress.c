/*
 * stress.c - the same core and variant on real OS threads, as in the field
 * reproduction: many RST-terminated connections, classify threads, delete
 * notifications on other threads, late packets that find flows by handle
 * while their deletes run, and a user-space poller. Scheduling points turn
 * into seeded noise (yields and short delays) that widens race windows.
 */
#define _GNU_SOURCE
#include "flowcore.h"
#include "fr_engine.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HOT_SLOTS 64

typedef struct stress_state {
    const FR_STRESS_SPEC *spec;
    PFLOW_CONTEXT *flows;
    int *deletes_done;
    /* delete queue: classify threads push finished connections */
    int *queue;
    int q_head, q_tail, q_closed;
    pthread_mutex_t q_lock;
    pthread_cond_t q_cond;
    /* handles whose deletes are running now: late packets aim there */
    volatile uint64_t hot[HOT_SLOTS];
    volatile int hot_next;
    volatile int inflight;      /* connections created whose deletes have not all run */
    int max_inflight;
    volatile int all_done;
    int64_t operations;
    double t0;
    FR_STRESS_RESULT *out;
    int next_thread_index;
} stress_state;

typedef struct thread_arg {
    stress_state *st;
    int index;
    int role;
} thread_arg;

enum { ROLE_CLASSIFY, ROLE_DELETE, ROLE_LATE, ROLE_POLL };

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void flow_spec(int i, FR_FLOW_SPEC *spec)
{
    memset(spec, 0, sizeof *spec);
    spec->handle = (uint64_t)i + 1;
    spec->cookie = 0x10000000ULL + (uint64_t)i;
    spec->pid = 4242;
    spec->family = 4;
    spec->protocol = 6;
    spec->n_assoc = 4;
    spec->outbound = 1;
    spec->local_port = (uint16_t)(20000 + i % 40000);
    spec->remote_port = 443;
    spec->local_addr[0] = 10;
    spec->remote_addr[0] = 192;
}

static void count_op(stress_state *st) { __atomic_add_fetch(&st->operations, 1, __ATOMIC_RELAXED); }

static void *classify_thread(void *p)
{
    thread_arg *ta = p;
    stress_state *st = ta->st;
    const FR_STRESS_SPEC *spec = st->spec;
    fr_stress_thread_init(ta->index, spec->seed);
    for (int i = ta->index; i < spec->connections; i += spec->classify_threads) {
        FR_FLOW_SPEC fs;
        flow_spec(i, &fs);
        /* A bounded number of live connections, as on a real host: the open
         * table fills only with flows that linger. */
        while (__atomic_load_n(&st->inflight, __ATOMIC_ACQUIRE) >= st->max_inflight &&
               !fr_stress_aborted())
            sched_yield();
        fr_stress_op_begin(DISPATCH_LEVEL);
        PFLOW_CONTEXT flow = FlowCoreCreate(&fs, (ULONG)i);
        count_op(st);
        if (!flow)
            continue; /* dropped: openFlows is full */
        __atomic_add_fetch(&st->inflight, 1, __ATOMIC_ACQ_REL);
        st->flows[i] = flow;
        for (int k = 0; k < spec->data_packets; k++) {
            fr_stress_op_begin(DISPATCH_LEVEL);
            FlowCoreClassify(flow, FR_PKT_DATA, 100 + k, k & 1, 0);
            count_op(st);
        }
        fr_stress_op_begin(DISPATCH_LEVEL);
        FlowCoreClassify(flow, FR_PKT_RST_RECV, 0, 1, 0);
        count_op(st);
        pthread_mutex_lock(&st->q_lock);
        st->queue[st->q_tail++] = i;
        pthread_cond_signal(&st->q_cond);
        pthread_mutex_unlock(&st->q_lock);
    }
    return NULL;
}

static void *delete_thread(void *p)
{
    thread_arg *ta = p;
    stress_state *st = ta->st;
    fr_stress_thread_init(ta->index, st->spec->seed);
    for (;;) {
        pthread_mutex_lock(&st->q_lock);
        while (st->q_head == st->q_tail && !st->q_closed && !fr_stress_aborted()) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += 50 * 1000 * 1000;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&st->q_cond, &st->q_lock, &until);
        }
        if (st->q_head == st->q_tail) {
            pthread_mutex_unlock(&st->q_lock);
            break;
        }
        int i = st->queue[st->q_head++];
        pthread_mutex_unlock(&st->q_lock);
        PFLOW_CONTEXT flow = st->flows[i];
        int slot = __atomic_fetch_add(&st->hot_next, 1, __ATOMIC_RELAXED) % HOT_SLOTS;
        __atomic_store_n(&st->hot[slot], (uint64_t)i + 1, __ATOMIC_RELEASE);
        for (int a = 0; a < 4; a++) {
            fr_stress_op_begin(DISPATCH_LEVEL);
            FlowVariantDeleteNotify(flow, (ULONG)a);
            __atomic_add_fetch(&st->deletes_done[i], 1, __ATOMIC_RELEASE);
            count_op(st);
        }
        __atomic_sub_fetch(&st->inflight, 1, __ATOMIC_ACQ_REL);
    }
    return NULL;
}

static void *late_thread(void *p)
{
    thread_arg *ta = p;
    stress_state *st = ta->st;
    fr_stress_thread_init(ta->index, st->spec->seed);
    unsigned k = (unsigned)ta->index * 7919u;
    int late_budget = st->spec->late_packets;
    while (!__atomic_load_n(&st->all_done, __ATOMIC_ACQUIRE)) {
        int newest = __atomic_load_n(&st->hot_next, __ATOMIC_RELAXED);
        if (fr_stress_aborted())
            break;
        if (newest == 0) {
            sched_yield();
            continue;
        }
        /* aim at the flows whose deletes were dispatched most recently */
        int back = (int)(k++ % (unsigned)st->spec->delete_threads);
        int slot = ((newest - 1 - back) % HOT_SLOTS + HOT_SLOTS) % HOT_SLOTS;
        uint64_t handle = __atomic_load_n(&st->hot[slot], __ATOMIC_ACQUIRE);
        if (!handle)
            continue;
        fr_stress_op_begin(DISPATCH_LEVEL);
        FlowCoreLatePacket(handle, FR_PKT_DATA, 60, 1, 0);
        count_op(st);
        if (late_budget > 0 && --late_budget == 0)
            break;
    }
    return NULL;
}

static void *poll_thread(void *p)
{
    thread_arg *ta = p;
    stress_state *st = ta->st;
    FR_STRESS_RESULT *out = st->out;
    fr_stress_thread_init(ta->index, st->spec->seed);
    int interval = st->spec->poll_interval_us > 0 ? st->spec->poll_interval_us : 2000;
    double next_sample = st->t0;
    double sample_every = 0.02;
    while (!__atomic_load_n(&st->all_done, __ATOMIC_ACQUIRE)) {
        fr_stress_op_begin(PASSIVE_LEVEL);
        int open = FlowCoreReadOpen(NULL, NULL);
        fr_stress_op_begin(PASSIVE_LEVEL);
        FlowCoreDrainClosed(NULL, NULL);
        count_op(st);
        if (open > out->open_peak)
            out->open_peak = open;
        double t = now_s();
        if (t >= next_sample && out->n_samples < 256) {
            out->sample_t[out->n_samples] = t - st->t0;
            out->sample_open[out->n_samples] = open;
            out->sample_lingering[out->n_samples] = -1;
            out->n_samples++;
            next_sample = t + sample_every;
            if (out->n_samples == 200)
                sample_every *= 4; /* long runs: thin out */
        }
        usleep((useconds_t)interval);
    }
    return NULL;
}

/* Join `t` by `deadline` (CLOCK_REALTIME seconds; 0: no deadline). 1 when joined. */
static int join_by(pthread_t t, double deadline, char *joined)
{
    if (*joined)
        return 1;
    if (deadline <= 0) {
        pthread_join(t, NULL);
        *joined = 1;
        return 1;
    }
    struct timespec until;
    until.tv_sec = (time_t)deadline;
    until.tv_nsec = (long)((deadline - (double)until.tv_sec) * 1e9);
    if (pthread_timedjoin_np(t, NULL, &until) == 0)
        *joined = 1;
    return *joined;
}

static double real_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int count_lingering(stress_state *st)
{
    int n = 0;
    for (int i = 0; i < st->spec->connections; i++) {
        PFLOW_CONTEXT flow = st->flows[i];
        if (flow && !fr_pool_is_freed(flow) && st->deletes_done[i] >= 4 &&
            flow->Where == FR_WHERE_OPEN)
            n++;
    }
    return n;
}

int fr_stress(const FR_STRESS_SPEC *spec, FR_STRESS_RESULT *out)
{
    memset(out, 0, sizeof *out);
    if (spec->connections < 1 || spec->classify_threads < 1 || spec->delete_threads < 1 ||
        spec->late_threads < 0)
        return FR_ERR_SPEC;
    size_t per_flow = (sizeof(FLOW_CONTEXT) + 63) / 64 * 64 + 64; /* + redzone */
    if (!fr_stress_prepare(per_flow * (size_t)spec->connections + (1u << 20), spec->noise_permille,
                           spec->hold_spins, 2.0))
        return FR_ERR_RESOURCES;
    stress_state *st = calloc(1, sizeof *st);
    if (!st)
        return FR_ERR_RESOURCES;
    st->spec = spec;
    st->out = out;
    st->max_inflight = 64 * spec->classify_threads;
    st->flows = calloc((size_t)spec->connections, sizeof(PFLOW_CONTEXT));
    st->deletes_done = calloc((size_t)spec->connections, sizeof(int));
    st->queue = calloc((size_t)spec->connections, sizeof(int));
    pthread_mutex_init(&st->q_lock, NULL);
    pthread_cond_init(&st->q_cond, NULL);
    int nthreads = spec->classify_threads + spec->delete_threads + spec->late_threads + 1;
    pthread_t *tids = calloc((size_t)nthreads, sizeof(pthread_t));
    thread_arg *args = calloc((size_t)nthreads, sizeof(thread_arg));
    char *joined = calloc((size_t)nthreads, 1);
    if (!st->flows || !st->deletes_done || !st->queue || !tids || !args || !joined ||
        FlowCoreReset(spec->buckets > 0 ? spec->buckets : 4096, spec->open_capacity) != 0) {
        fr_stress_finish();
        free(st->flows);
        free(st->deletes_done);
        free(st->queue);
        free(st);
        free(tids);
        free(args);
        free(joined);
        return FR_ERR_RESOURCES;
    }
    st->t0 = now_s();
    int t = 0;
    int roles[4] = {spec->classify_threads, spec->delete_threads, spec->late_threads, 1};
    void *(*fns[4])(void *) = {classify_thread, delete_thread, late_thread, poll_thread};
    for (int r = 0; r < 4; r++)
        for (int k = 0; k < roles[r]; k++, t++) {
            args[t].st = st;
            args[t].index = r == ROLE_CLASSIFY ? k : t;
            args[t].role = r;
            pthread_create(&tids[t], NULL, fns[r], &args[t]);
        }
    /* The watchdog: every thread must be done by max_seconds. Past it, the run stops
     * (threads leave at their next scheduling point); a thread that does not reach one
     * within a grace period (a hook that sleeps, or loops without the shim) cannot be
     * stopped from here: it is reported, and the run's memory is left to it. */
    double deadline = spec->max_seconds > 0 ? real_now() + spec->max_seconds : 0;
    int stuck = 0, late = 0;
    /* classify threads first, then close the delete queue and wait for it */
    for (int k = 0; k < spec->classify_threads && !late; k++)
        late = !join_by(tids[k], deadline, &joined[k]);
    pthread_mutex_lock(&st->q_lock);
    st->q_closed = 1;
    pthread_cond_broadcast(&st->q_cond);
    pthread_mutex_unlock(&st->q_lock);
    for (int k = spec->classify_threads;
         k < spec->classify_threads + spec->delete_threads && !late; k++)
        late = !join_by(tids[k], deadline, &joined[k]);
    __atomic_store_n(&st->all_done, 1, __ATOMIC_RELEASE);
    for (int k = spec->classify_threads + spec->delete_threads; k < nthreads && !late; k++)
        late = !join_by(tids[k], deadline, &joined[k]);
    if (late) {
        int first = !fr_stress_aborted();
        fr_stress_abort();
        double grace = real_now() + 2.0;
        for (int k = 0; k < nthreads; k++)
            if (!join_by(tids[k], grace, &joined[k]))
                stuck++;
        if (first && stuck)
            fr_report(FR_V_LIVELOCK, -1,
                      "hang: the stress run did not finish within %.1f s (max_seconds); "
                      "%d thread(s) still inside the variant 2 s after the stop (a hook "
                      "that sleeps, or loops without a scheduling point)",
                      spec->max_seconds, stuck);
        else if (first)
            fr_report(FR_V_LIVELOCK, -1,
                      "hang: the stress run did not finish within %.1f s (max_seconds); "
                      "stopped", spec->max_seconds);
    }
    int aborted = fr_stress_aborted();
    if (stuck) {
        /* threads still run inside the variant: leave them their memory, report */
        out->seconds = now_s() - st->t0;
        out->operations = __atomic_load_n(&st->operations, __ATOMIC_RELAXED);
        out->completed = 0;
        return FR_OK;
    }
    if (!aborted) {
        /* user space polls once more, as it does forever */
        fr_stress_thread_init(nthreads, spec->seed);
        fr_stress_op_begin(PASSIVE_LEVEL);
        FlowCoreReadOpen(NULL, NULL);
        FlowCoreDrainClosed(NULL, NULL);
    }
    out->seconds = now_s() - st->t0;
    out->operations = st->operations;
    out->completed = !aborted;
    out->lingering = count_lingering(st);
    out->open_at_end = FlowCoreOpenCount();
    if (out->n_samples < 256) {
        out->sample_t[out->n_samples] = out->seconds;
        out->sample_open[out->n_samples] = out->open_at_end;
        out->sample_lingering[out->n_samples] = out->lingering;
        out->n_samples++;
    }
    if (out->lingering > 0 && !aborted) /* a leak is judged at quiescence only */
        fr_report(FR_V_LEAK, -1,
                  "%d flows are still in openFlows after all their associations were deleted",
                  out->lingering);
    fr_stress_finish();
    pthread_mutex_destroy(&st->q_lock);
    pthread_cond_destroy(&st->q_cond);
    free(st->flows);
    free(st->deletes_done);
    free(st->queue);
    free(st);
    free(tids);
    free(args);
    free(joined);
    return FR_OK;
}
