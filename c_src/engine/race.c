/*
 * race.c - the happens-before data-race detector of controlled mode.
 *
 * Every actor (a simulated CPU running a scenario's operations) has a vector
 * clock. Happens-before is program order plus these synchronisations:
 *   - spin locks: a release joins the holder's clock into the lock's, an acquire
 *     joins the lock's into the acquirer's (locks.c, fr_lock_acquired/released);
 *   - interlocked operations are full barriers: each is an acquire and, when it
 *     writes, a release on the variable it operates on (so two CPUs ordered through
 *     one counter are ordered; a barrier on one variable orders nothing through
 *     another; a failed compare-exchange only reads, as the explorer sees it too);
 *     ReadAcquire is an acquire, WriteRelease a release, ReadNoFence/WriteNoFence
 *     and volatile accesses order nothing (relaxed atomics); a C11/GNU atomic
 *     follows its memory order (engine/access.c);
 *   - event order: an operation that waits for events (`after=`) begins after
 *     them, and the settle poll after everyone;
 *   - the harness: flows are created before any actor runs (code outside every
 *     actor is not recorded, so it happens before everything).
 * Two accesses to overlapping bytes from actors on different CPUs, at least one a
 * write and at least one of them plain (neither atomic), that happen-before does
 * not order, are a data race. Atomic accesses (interlocked, aligned volatile of at
 * most 8 bytes, __atomic) never race with each other.
 *
 * Shadow memory: one cell per 8-byte word touched in this execution (a small
 * open-addressed table, reset by a generation number), holding, per actor and per
 * byte of the word, its latest write and its latest read of that byte (FastTrack's
 * epochs: the actor's own clock entry at the access), each naming the access in
 * this execution's access log (step, pc, address, size, kind). Per byte, because
 * an actor's later access to other bytes of the word must not hide an earlier
 * one: the findings of an execution must not depend on how the search orders
 * steps that commute. Within one epoch, a plain access of a byte is remembered
 * over an atomic one (it is what can race). The core's own C code is not
 * instrumented: it reaches shared state through the shim (recorded here) or under
 * the table locks.
 */
#define _GNU_SOURCE
#include "fr_engine.h"
#include "fr_sched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RA (FR_MAX_ACTORS + 1)
#define FR_XSTR(x) #x
#define FR_STR(x) FR_XSTR(x)
#define CELLS 4096     /* words touched in one execution; a power of two */
#define SYNCS 256      /* synchronisation objects in one execution; a power of two */

typedef struct access_info { /* one recorded access, for the report */
    int step;
    int size;
    int flags;             /* FR_ACC_* */
    const void *pc;
    const volatile void *addr;
} access_info;

typedef struct slot {      /* one actor's latest access of one byte */
    uint32_t epoch;        /* 0: none */
    uint32_t info;         /* index into g_log */
} slot;

typedef struct cell {
    uintptr_t word;
    uint32_t gen;
    uint64_t writers, readers; /* actors with slots */
    slot w[RA][8], r[RA][8];
} cell;

typedef struct sync_obj {
    uintptr_t addr;
    uint32_t gen;
    uint32_t vc[RA];
} sync_obj;

static uint32_t g_vc[RA][RA];
static int g_na;
static uint32_t g_gen;
static cell *g_cells;
static sync_obj *g_syncs;
static access_info *g_log; /* this execution's recorded accesses */
static uint32_t g_nlog, g_log_cap;
static uint32_t *g_event_vc; /* (events + 1) x RA */
static int g_event_vc_cap;
static int g_nevents;

int fr_race_off;

int fr_race_reset(int nactors, int nevents)
{
    if (fr_race_off)
        return 0;
    if (!g_cells)
        g_cells = calloc(CELLS, sizeof(cell));
    if (!g_syncs)
        g_syncs = calloc(SYNCS, sizeof(sync_obj));
    if (!g_cells || !g_syncs)
        return -1;
    g_gen++;
    g_nlog = 0;
    g_na = nactors < RA ? nactors : RA;
    for (int a = 0; a < g_na; a++) {
        memset(g_vc[a], 0, sizeof(uint32_t) * (size_t)g_na);
        g_vc[a][a] = 1;
    }
    g_nevents = 0;
    if (nevents + 1 > g_event_vc_cap) {
        uint32_t *e = realloc(g_event_vc, sizeof(uint32_t) * RA * (size_t)(nevents + 1));
        if (!e)
            return -1;
        g_event_vc = e;
        g_event_vc_cap = nevents + 1;
    }
    g_nevents = nevents + 1;
    memset(g_event_vc, 0, sizeof(uint32_t) * RA * (size_t)g_nevents);
    return 0;
}

static int running(void)
{
    if (fr_mode != FR_MODE_CONTROLLED || !g_cells)
        return -1;
    int a = fr_current_actor();
    return a < g_na ? a : -1;
}

static void join(uint32_t *dst, const uint32_t *src)
{
    for (int a = 0; a < g_na; a++)
        if (src[a] > dst[a])
            dst[a] = src[a];
}

static sync_obj *sync_of(const volatile void *p)
{
    uintptr_t addr = (uintptr_t)p;
    unsigned h = (unsigned)((addr >> 3) * 0x9E3779B1u) & (SYNCS - 1);
    for (int probe = 0; probe < SYNCS; probe++, h = (h + 1) & (SYNCS - 1)) {
        sync_obj *s = &g_syncs[h];
        if (s->gen != g_gen) {
            s->gen = g_gen;
            s->addr = addr;
            memset(s->vc, 0, sizeof(uint32_t) * (size_t)g_na);
            return s;
        }
        if (s->addr == addr)
            return s;
    }
    return NULL;
}

void fr_race_acquire(const volatile void *p)
{
    if (fr_race_off)
        return;
    int t = running();
    if (t < 0)
        return;
    sync_obj *s = sync_of(p);
    if (s)
        join(g_vc[t], s->vc);
}

void fr_race_release(const volatile void *p)
{
    if (fr_race_off)
        return;
    int t = running();
    if (t < 0)
        return;
    sync_obj *s = sync_of(p);
    if (s)
        join(s->vc, g_vc[t]);
    g_vc[t][t]++;
}

void fr_race_event_end(int t, int ev)
{
    if (fr_race_off || fr_mode != FR_MODE_CONTROLLED || t < 0 || t >= g_na || ev < 0 || ev >= g_nevents)
        return;
    join(&g_event_vc[(size_t)ev * RA], g_vc[t]);
    g_vc[t][t]++;
}

void fr_race_op_begin(int t, int opi)
{
    if (fr_race_off || fr_mode != FR_MODE_CONTROLLED || t < 0 || t >= g_na)
        return;
    if (opi < 0) { /* the settle poll: after every other actor's last step */
        for (int a = 0; a < g_na; a++)
            if (a != t)
                join(g_vc[t], g_vc[a]);
        return;
    }
    const FR_OP_SPEC *op = &fr_scenario()->ops[opi];
    for (int k = 0; k < op->n_after; k++)
        if (op->after[k] >= 0 && op->after[k] < g_nevents)
            join(g_vc[t], &g_event_vc[(size_t)op->after[k] * RA]);
}

static cell *cell_of(uintptr_t word)
{
    unsigned h = (unsigned)(word * 0x9E3779B1u) & (CELLS - 1);
    for (int probe = 0; probe < CELLS; probe++, h = (h + 1) & (CELLS - 1)) {
        cell *c = &g_cells[h];
        if (c->gen != g_gen) {
            c->gen = g_gen;
            c->word = word;
            c->writers = c->readers = 0;
            return c;
        }
        if (c->word == word)
            return c;
    }
    /* a word the detector cannot track would be a race it cannot see: the run fails */
    fr_sched_fail(FR_ERR_RESOURCES, "the execution touched more than " FR_STR(CELLS)
                  " shared 8-byte words: more than the data-race detector tracks");
    return NULL;
}

static const char *kind_text(int flags)
{
    if (flags & FR_ACC_SHIM)
        return flags & FR_ACC_WRITE ? "interlocked/shim write" : "shim read";
    if (flags & FR_ACC_ATOMIC)
        return flags & FR_ACC_WRITE ? "volatile write" : "volatile read";
    if (flags & FR_ACC_VOLATILE)
        return flags & FR_ACC_WRITE ? "misaligned volatile write" : "misaligned volatile read";
    return flags & FR_ACC_WRITE ? "plain write" : "plain read";
}

static void report(int t, const volatile void *p, int size, int flags, const void *pc, int u,
                   const access_info *s)
{
    char what[64], at1[48], at2[48], what2[64];
    fr_describe_addr(p, what, sizeof what);
    fr_describe_addr(s->addr, what2, sizeof what2);
    fr_pc_text(pc, at1, sizeof at1);
    fr_pc_text(s->pc, at2, sizeof at2);
    fr_report(FR_V_DATA_RACE, fr_pool_flow_of(p),
              "%s of %d byte(s) at %s (%s) by cpu%d at step %d races with the %s of %d "
              "byte(s) at %s (%s) by cpu%d at step %d: nothing orders them",
              kind_text(flags), size, what, at1, fr_actor_cpu(t), fr_current_step(),
              kind_text(s->flags), s->size, what2, at2, fr_actor_cpu(u), s->step);
}

/* The first of actor u's slots (one per byte) that races with this access, or NULL. */
static const access_info *conflict(int t, int cpu, const slot *s, int u, unsigned char bytes,
                                   int flags)
{
    if (u == t || fr_actor_cpu(u) == cpu)
        return NULL;
    for (int b = 0; b < 8; b++) {
        if (!(bytes >> b & 1) || !s[b].epoch || s[b].epoch <= g_vc[t][u])
            continue;
        const access_info *other = &g_log[s[b].info];
        if (!((other->flags & FR_ACC_ATOMIC) && (flags & FR_ACC_ATOMIC)))
            return other;
    }
    return NULL;
}

static void record(slot *s, int fresh, uint32_t epoch, unsigned char bytes, int flags,
                   uint32_t info)
{
    if (fresh)
        memset(s, 0, sizeof(slot) * 8);
    for (int b = 0; b < 8; b++) {
        if (!(bytes >> b & 1))
            continue;
        /* within one epoch, keep a plain access over an atomic one: it is what can race */
        if (s[b].epoch == epoch && !((g_log[s[b].info].flags & FR_ACC_ATOMIC) &&
                                     !(flags & FR_ACC_ATOMIC)))
            continue;
        s[b].epoch = epoch;
        s[b].info = info;
    }
}

static void access_word(int t, uintptr_t word, unsigned char bytes, const volatile void *p,
                        int size, int flags, const void *pc, uint32_t info)
{
    cell *c = cell_of(word);
    if (!c)
        return;
    int cpu = fr_actor_cpu(t);
    for (uint64_t m = c->writers; m; m &= m - 1) {
        int u = __builtin_ctzll(m);
        const access_info *other = conflict(t, cpu, c->w[u], u, bytes, flags);
        if (other) {
            report(t, p, size, flags, pc, u, other);
            break;
        }
    }
    if (flags & FR_ACC_WRITE)
        for (uint64_t m = c->readers; m; m &= m - 1) {
            int u = __builtin_ctzll(m);
            const access_info *other = conflict(t, cpu, c->r[u], u, bytes, flags);
            if (other) {
                report(t, p, size, flags, pc, u, other);
                break;
            }
        }
    if (flags & FR_ACC_WRITE) {
        record(c->w[t], !(c->writers >> t & 1), g_vc[t][t], bytes, flags, info);
        c->writers |= 1ull << t;
    } else {
        record(c->r[t], !(c->readers >> t & 1), g_vc[t][t], bytes, flags, info);
        c->readers |= 1ull << t;
    }
}

/* Log the access for reports; UINT32_MAX (and the run fails) when the log cannot grow. */
static uint32_t log_access(const volatile void *p, int size, int flags, const void *pc)
{
    if (g_nlog == g_log_cap) {
        uint32_t cap = g_log_cap ? g_log_cap * 2 : 4096;
        access_info *l = realloc(g_log, sizeof(access_info) * cap);
        if (!l) {
            fr_sched_fail(FR_ERR_RESOURCES, "out of memory (the data-race detector)");
            return UINT32_MAX;
        }
        g_log = l;
        g_log_cap = cap;
    }
    g_log[g_nlog] = (access_info){fr_current_step(), size, flags, pc, p};
    return g_nlog++;
}

void fr_race_access(const volatile void *p, int size, int flags, const void *pc)
{
    if (fr_race_off) { /* only whether it is plain */
        if (!(flags & FR_ACC_ATOMIC) && size > 0 && fr_mode == FR_MODE_CONTROLLED &&
            fr_current_actor() >= 0 && fr_current_actor() < RA)
            fr_race_plain_seen = 1;
        return;
    }
    int t = running();
    if (t < 0 || size <= 0)
        return;
    if (!(flags & FR_ACC_ATOMIC))
        fr_race_plain_seen = 1;
    uint32_t info = log_access(p, size, flags, pc);
    if (info == UINT32_MAX)
        return;
    uintptr_t a = (uintptr_t)p, end = a + (uintptr_t)size;
    while (a < end) { /* one word at a time (an unaligned or 16-byte access spans two) */
        uintptr_t word = a >> 3, stop = (word + 1) << 3;
        if (stop > end)
            stop = end;
        unsigned char bytes = (unsigned char)(((1u << (stop - a)) - 1) << (a & 7));
        access_word(t, word, bytes, p, size, flags, pc, info);
        a = stop;
    }
}

/* ---- the stateful search's view (engine/stateful.c) ------------------------------------
 * A data race needs a plain access; fr_race_plain_seen says one happened in some execution
 * since the flag was cleared. The detector's state matters to the future only through
 * comparisons of an access's epoch with a clock entry of the same actor, so its
 * fingerprint is the order of those numbers, not the numbers (which count history):
 * for each actor t, the distinct epochs of t the shadow cells remember and t's current
 * one, sorted; each remembered access as the rank of its epoch there; each clock (actors,
 * synchronisation objects, events) as, for each t, how many of those epochs it covers. */
int fr_race_plain_seen;

static uint64_t rmix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2);
    return h * 0xFF51AFD7ED558CCDULL;
}

#define RANKS 64 /* epochs of one actor a fingerprint tells apart; more: exact values */

static uint32_t g_ep[RA][RANKS];
static int g_nep[RA];

static void ep_add(int t, uint32_t e)
{
    int n = g_nep[t];
    if (n < 0)
        return;
    for (int i = 0; i < n; i++)
        if (g_ep[t][i] == e)
            return;
    if (n == RANKS) {
        g_nep[t] = -1; /* too many: the raw numbers (exact, only less merging) */
        return;
    }
    g_ep[t][g_nep[t]++] = e;
}

static uint64_t rank_of(int t, uint32_t v)
{
    if (g_nep[t] < 0)
        return (uint64_t)v | 1ULL << 40;
    uint64_t r = 0;
    for (int i = 0; i < g_nep[t]; i++)
        r += g_ep[t][i] <= v;
    return r;
}

static uint64_t clock_fp(const uint32_t *vc)
{
    uint64_t h = 0x5851F42D4C957F2DULL;
    for (int t = 0; t < g_na; t++)
        h = rmix(h, rank_of(t, vc[t]));
    return h;
}

void fr_race_fingerprint(uint64_t h[2])
{
    if (!g_cells || fr_race_off)
        return;
    for (int t = 0; t < g_na; t++) {
        g_nep[t] = 0;
        ep_add(t, g_vc[t][t]);
    }
    for (int i = 0; i < CELLS; i++) {
        const cell *c = &g_cells[i];
        if (c->gen != g_gen)
            continue;
        for (int rw = 0; rw < 2; rw++)
            for (uint64_t m = rw ? c->readers : c->writers; m; m &= m - 1) {
                int u = __builtin_ctzll(m);
                const slot *s8 = rw ? c->r[u] : c->w[u];
                for (int b = 0; b < 8; b++)
                    if (s8[b].epoch)
                        ep_add(u, s8[b].epoch);
            }
    }
    uint64_t cells = 0, syncs = 0, acc = 0x2545F4914F6CDD1DULL;
    for (int i = 0; i < CELLS; i++) {
        const cell *c = &g_cells[i];
        if (c->gen != g_gen)
            continue;
        uint64_t x = rmix(0x9E3779B97F4A7C15ULL, c->word);
        for (int rw = 0; rw < 2; rw++)
            for (uint64_t m = rw ? c->readers : c->writers; m; m &= m - 1) {
                int u = __builtin_ctzll(m);
                const slot *s8 = rw ? c->r[u] : c->w[u];
                for (int b = 0; b < 8; b++) /* one slot per byte */
                    if (s8[b].epoch)
                        x = rmix(x, (uint64_t)u | (uint64_t)rw << 8 | (uint64_t)b << 16 |
                                        (uint64_t)(g_log[s8[b].info].flags & FR_ACC_ATOMIC)
                                            << 24 |
                                        rank_of(u, s8[b].epoch) << 32);
            }
        cells += x; /* a set: where a cell sits in the table is history */
    }
    for (int i = 0; i < SYNCS; i++)
        if (g_syncs[i].gen == g_gen)
            syncs += rmix(g_syncs[i].addr, clock_fp(g_syncs[i].vc));
    for (int t = 0; t < g_na; t++)
        acc = rmix(acc, clock_fp(g_vc[t]));
    for (int e = 0; e < g_nevents; e++)
        acc = rmix(acc, clock_fp(&g_event_vc[(size_t)e * RA]));
    h[0] = rmix(rmix(rmix(h[0], cells), syncs), acc);
    h[1] = rmix(h[1] ^ 0xA5A5A5A5A5A5A5A5ULL, cells ^ syncs * 3 ^ acc * 7);
}
