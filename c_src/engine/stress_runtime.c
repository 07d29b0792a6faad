/*
 * stress_runtime.c - the engine's side of stress mode (real OS threads, driven by
 * core/stress.c): per-thread state, the seeded noise at scheduling points, the
 * budgets of CPU time after which a spin or a lock wait stops the run as timed out,
 * and the waits-for graph of spin locks in which a `deadlock` is a cycle.
 */
#define _GNU_SOURCE
#include "fr_internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

/* stress */
pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_noise_permille, g_hold_spins;
static int g_stress_abort; /* read and written with __atomic: threads stop on it */
/* The budget, in the thread's own CPU seconds, of one callback that spins or waits for a
 * lock without a provable deadlock: past it the run stops as "timed out" (an undecided
 * hang, not a finding). CPU time, not wall-clock time: a busy machine slows a thread down
 * but does not give it more CPU time, so load alone never reaches the budget. */
double g_stress_spin_limit = 10.0;
static char g_stress_timeout[256]; /* why the run timed out ("" when it did not) */
/* The waits-for graph of stress mode: the spin lock each thread is waiting for (NULL: not
 * waiting), and a count of its waits, so that a cycle seen twice with the same counts was
 * there the whole time between (nobody in it acquired or released anything). */
const volatile void *g_waiting_for[FR_STRESS_WAITERS]; /* read and written with __atomic */
static unsigned g_wait_gen[FR_STRESS_WAITERS];                 /* likewise */
__thread int t_actor = -1;
static __thread uint64_t t_rng;
__thread int t_irql;
__thread const char *t_hook;
__thread long t_op_spins;
__thread double t_op_spin_start;

void stress_point(void)
{
    if (__atomic_load_n(&g_stress_abort, __ATOMIC_ACQUIRE))
        pthread_exit(NULL);
    if (g_noise_permille && (int)(rng_next(&t_rng) % 1000) < g_noise_permille) {
        uint64_t r = rng_next(&t_rng);
        if (r & 1) {
            sched_yield();
        } else {
            int spins = g_hold_spins ? (int)(r >> 8) % g_hold_spins : 0;
            for (volatile int i = 0; i < spins; i++)
                ;
        }
    }
}

double thread_cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Stop the stress run as timed out (once): a spin or a wait outlived its budget of CPU
 * time with no deadlock cycle to show. */
void stress_timed_out(const char *fmt, ...)
{
    if (__atomic_exchange_n(&g_stress_abort, 1, __ATOMIC_ACQ_REL) == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g_stress_timeout, sizeof g_stress_timeout, fmt, ap);
        va_end(ap);
    }
    pthread_exit(NULL);
}

const char *fr_stress_timeout(void) { return g_stress_timeout; }

/* ---- stress mode support (used by core/stress.c) --------------------------------------- */
int fr_stress_prepare(size_t arena_bytes, int noise_permille, int hold_spins, double spin_limit)
{
    g_sc = NULL;
    g_run = NULL;
    g_nviol = 0;
    g_nrec = 0;
    __atomic_store_n(&g_stress_abort, 0, __ATOMIC_RELEASE);
    g_noise_permille = noise_permille;
    g_hold_spins = hold_spins;
    g_stress_spin_limit = spin_limit > 0 ? spin_limit : 10.0;
    g_stress_timeout[0] = 0;
    for (int i = 0; i < FR_STRESS_WAITERS; i++)
        __atomic_store_n(&g_waiting_for[i], NULL, __ATOMIC_RELEASE);
    if (!pool_reserve(arena_bytes))
        return 0;
    pool_reset();
    fr_mode = FR_MODE_STRESS;
    return 1;
}

void fr_stress_thread_init(int index, uint64_t seed)
{
    t_actor = index;
    t_rng = seed_mix(seed * 1000003ULL + (uint64_t)index);
    t_irql = 0;
}

void fr_stress_op_begin(int irql)
{
    t_irql = irql;
    t_op_spins = 0;
    t_op_spin_start = 0;
}

int fr_stress_aborted(void) { return __atomic_load_n(&g_stress_abort, __ATOMIC_ACQUIRE); }

/* The thread that holds a spin lock (its owner token is the thread index + 1), or -1. */
static int stress_lock_owner(const volatile void *lock)
{
    uintptr_t token = __atomic_load_n((const volatile uintptr_t *)lock, __ATOMIC_ACQUIRE);
    if (token == 0 || token > FR_STRESS_WAITERS)
        return -1;
    return (int)token - 1;
}

/* Follow the waits-for graph from `me` (waiting for `lock`): the lock's owner, the lock
 * that owner waits for, its owner, ... Returns the length of the cycle back to `me`
 * (threads in `who`, the locks they wait for in `what`, their wait counts in `gen`), or 0
 * when the chain ends at a thread that is not waiting for a lock. */
static int stress_cycle(int me, int *who, const volatile void **what, unsigned *gen)
{
    int n = 0, t = me;
    while (n < 64) {
        const volatile void *l = __atomic_load_n(&g_waiting_for[t], __ATOMIC_ACQUIRE);
        if (!l)
            return 0;
        who[n] = t;
        what[n] = l;
        gen[n] = __atomic_load_n(&g_wait_gen[t], __ATOMIC_ACQUIRE);
        n++;
        int owner = stress_lock_owner(l);
        if (owner < 0)
            return 0;
        if (owner == me)
            return n;
        for (int k = 0; k < n; k++)
            if (who[k] == owner)
                return 0; /* a cycle that does not include me: its own threads report it */
        t = owner;
    }
    return 0;
}

void fr_stress_lock_wait(const volatile void *lock, unsigned spins)
{
    static __thread double wait_start;
    static __thread const volatile void *wait_lock;
    if (__atomic_load_n(&g_stress_abort, __ATOMIC_ACQUIRE))
        pthread_exit(NULL);
    int me = t_actor;
    if (spins == 64 || wait_lock != lock) {
        wait_start = thread_cpu_seconds();
        wait_lock = lock;
        if (me >= 0 && me < FR_STRESS_WAITERS) {
            __atomic_add_fetch(&g_wait_gen[me], 1, __ATOMIC_ACQ_REL);
            __atomic_store_n(&g_waiting_for[me], lock, __ATOMIC_RELEASE);
        }
        return;
    }
    if (me >= 0 && me < FR_STRESS_WAITERS && spins % 1024 == 0) {
        /* A deadlock is a cycle in the waits-for graph: I wait for a lock whose owner
         * waits for a lock whose owner ... is me. A thread spinning for a lock releases
         * nothing, so a cycle seen twice, with every wait in it the same one (same wait
         * counts) both times, was there all the time between and never dissolves. */
        int who[64], who2[64];
        const volatile void *what[64], *what2[64];
        unsigned gen[64], gen2[64];
        int n = stress_cycle(me, who, what, gen);
        if (n > 0) {
            for (int k = 0; k < 200; k++)
                sched_yield();
            int n2 = stress_cycle(me, who2, what2, gen2);
            int same = n2 == n;
            for (int k = 0; same && k < n; k++)
                same = who[k] == who2[k] && what[k] == what2[k] && gen[k] == gen2[k];
            if (same) {
                if (__atomic_exchange_n(&g_stress_abort, 1, __ATOMIC_ACQ_REL) == 0) {
                    char text[256];
                    size_t len = 0;
                    for (int k = 0; k < n && len < sizeof text; k++) {
                        char name[64];
                        describe_obj(what[k], name, sizeof name);
                        int r = snprintf(text + len, sizeof text - len,
                                         "%sthread %d waits for %s (held by thread %d)",
                                         k ? "; " : "", who[k], name, who[(k + 1) % n]);
                        if (r > 0)
                            len += (size_t)r;
                    }
                    fr_report(FR_V_DEADLOCK, fr_pool_flow_of(lock),
                              "a waits-for cycle of %d threads: %s", n, text);
                }
                pthread_exit(NULL);
            }
        }
    }
    if ((spins & 1023) == 0 && thread_cpu_seconds() - wait_start > g_stress_spin_limit) {
        char name[64];
        describe_obj(lock, name, sizeof name);
        int owner = stress_lock_owner(lock);
        stress_timed_out("thread %d waited for spin lock %s for %.1f s of its own CPU time; "
                         "its owner (thread %d) is not waiting for a lock this thread holds",
                         me, name, thread_cpu_seconds() - wait_start, owner);
    }
}
void fr_stress_abort(void) { __atomic_store_n(&g_stress_abort, 1, __ATOMIC_RELEASE); }
void fr_stress_finish(void) { fr_mode = FR_MODE_IDLE; }
