/*
 * locks.c - IRQL and spin-lock bookkeeping for the shim: the running actor's (or
 * stress thread's) IRQL, which CPU a DISPATCH-level actor owns, the variant hook
 * being run, `irql` findings, the locks each actor holds and the lock-order graph
 * (inversions and locks taken twice are `deadlock` findings).
 */
#define _GNU_SOURCE
#include "fr_internal.h"

#include <stdio.h>
#include <string.h>

static const volatile void *g_edges[FR_MAX_LOCK_EDGES][2];
int g_nedges;

/* ---- IRQL and lock bookkeeping -------------------------------------------------------- */
int fr_irql_get(void)
{
    if (fr_mode == FR_MODE_STRESS)
        return t_irql;
    return g_cur ? g_cur->irql : g_main_irql;
}

void fr_irql_set(int irql)
{
    if (fr_mode == FR_MODE_STRESS) {
        t_irql = irql;
        return;
    }
    fr_actor *a = g_cur;
    if (!a) {
        g_main_irql = irql;
        return;
    }
    a->irql = irql;
    if (irql >= 2)
        g_cpu_owner[a->cpu] = a->index;
    else if (g_cpu_owner[a->cpu] == a->index)
        g_cpu_owner[a->cpu] = -1;
}

const char *fr_hook_set(const char *hook)
{
    const char *prev;
    if (fr_mode == FR_MODE_STRESS) {
        prev = t_hook;
        t_hook = hook;
        return prev;
    }
    if (!g_cur)
        return NULL;
    prev = g_cur->hook;
    g_cur->hook = hook;
    return prev;
}

const char *fr_current_hook(void)
{
    if (fr_mode == FR_MODE_STRESS)
        return t_hook;
    return g_cur ? g_cur->hook : NULL;
}

static const char *irql_name(int irql)
{
    switch (irql) {
    case 0: return "PASSIVE_LEVEL";
    case 1: return "APC_LEVEL";
    case 2: return "DISPATCH_LEVEL";
    default: return "above DISPATCH_LEVEL";
    }
}

void fr_require_dispatch(const char *call, const volatile void *obj)
{
    int irql = fr_irql_get();
    if (irql >= 2 || fr_mode == FR_MODE_IDLE)
        return;
    char name[64];
    describe_obj(obj, name, sizeof name);
    const char *hook = fr_current_hook();
    fr_report(FR_V_IRQL, fr_pool_flow_of(obj),
              "%s(%s) called at %s in %s: it requires DISPATCH_LEVEL (the caller must "
              "already be at DISPATCH; below it the lock does not keep a DPC off the CPU)",
              call, name, irql_name(irql), hook ? hook : "the core");
}

uintptr_t fr_lock_owner_token(void)
{
    if (fr_mode == FR_MODE_STRESS)
        return (uintptr_t)t_actor + 1;
    return g_cur ? (uintptr_t)g_cur->index + 1 : (uintptr_t)FR_MAX_ACTORS + 100;
}

void lock_name(const volatile void *l, char *buf, size_t n) { describe_obj(l, buf, n); }

void fr_lock_acquired(const volatile void *lock)
{
    if (fr_mode == FR_MODE_STRESS) {
        if (t_actor >= 0 && t_actor < FR_STRESS_WAITERS)
            __atomic_store_n(&g_waiting_for[t_actor], NULL, __ATOMIC_RELEASE); /* out */
        return;
    }
    if (fr_mode != FR_MODE_CONTROLLED || !g_cur)
        return;
    fr_actor *a = g_cur;
    for (int h = 0; h < a->n_held; h++) {
        const volatile void *held = a->held[h];
        int known = 0;
        for (int e = 0; e < g_nedges; e++) {
            if (g_edges[e][0] == lock && g_edges[e][1] == held) {
                char n1[64], n2[64];
                lock_name(held, n1, sizeof n1);
                lock_name(lock, n2, sizeof n2);
                fr_report(FR_V_DEADLOCK, fr_pool_flow_of(lock),
                          "lock order inversion: cpu%d takes %s then %s; the opposite order was "
                          "taken before",
                          a->cpu, n1, n2);
            }
            if (g_edges[e][0] == held && g_edges[e][1] == lock)
                known = 1;
        }
        if (!known && g_nedges < FR_MAX_LOCK_EDGES) {
            g_edges[g_nedges][0] = held;
            g_edges[g_nedges][1] = lock;
            g_nedges++;
        }
    }
    if (a->n_held < FR_MAX_HELD)
        a->held[a->n_held++] = lock;
    fr_race_acquire(lock);
}

void fr_lock_released(const volatile void *lock)
{
    if (fr_mode != FR_MODE_CONTROLLED || !g_cur)
        return;
    fr_actor *a = g_cur;
    fr_race_release(lock);
    for (int h = a->n_held - 1; h >= 0; h--)
        if (a->held[h] == lock) {
            memmove(&a->held[h], &a->held[h + 1], sizeof(a->held[0]) * (size_t)(a->n_held - h - 1));
            a->n_held--;
            return;
        }
}

/* The lock-order edges seen so far, as a set (the order they were seen in is history):
 * the stateful search's fingerprint holds it, since the inversion check reads them. */
uint64_t lock_edges_digest(void)
{
    uint64_t edges = 0;
    for (int e = 0; e < g_nedges; e++) {
        uint64_t x = (uint64_t)(uintptr_t)g_edges[e][0] * 0x9E3779B97F4A7C15ULL;
        x ^= (uint64_t)(uintptr_t)g_edges[e][1] + 0x7F4A7C159E3779B9ULL + (x << 6) + (x >> 2);
        edges += x * 0xFF51AFD7ED558CCDULL;
    }
    return edges;
}
