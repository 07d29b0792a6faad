/*
 * strategy.c - who runs next at a scheduling point of a controlled execution
 * (FR_RUN_SPEC.strategy): an explicit schedule of segments, seeded random, the
 * scenario's events in a given order, PCT, the explorer's dfs (explore.c), or a
 * callback; and the seeded random numbers they and stress mode draw.
 */
#define _GNU_SOURCE
#include "fr_internal.h"

/* strategy state */
int g_seg, g_seg_done, g_order_pos, g_pct_cps[16], g_pct_ncps;

uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

uint64_t seed_mix(uint64_t seed)
{
    uint64_t z = seed + 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return z ? z : 0x1234567ULL;
}

static int lowest(uint32_t mask) { return __builtin_ctz(mask); }

static int pick_random(uint32_t mask)
{
    int n = __builtin_popcount(mask);
    int k = (int)(rng_next(&g_rng) % (uint64_t)n);
    while (k--)
        mask &= mask - 1;
    return lowest(mask);
}

static int default_pick(uint32_t mask, int current)
{
    if (current >= 0 && (mask >> current & 1))
        return current;
    return lowest(mask);
}

static int pick_schedule(uint32_t mask, int current)
{
    while (g_seg < g_run->n_segments) {
        const FR_SEGMENT *s = &g_run->segments[g_seg];
        int ok = s->actor >= 0 && s->actor < g_nactors && (mask >> s->actor & 1);
        switch (s->kind) {
        case FR_SEG_STEPS:
            if (g_seg_done >= s->arg) {
                g_seg++;
                g_seg_done = 0;
                continue;
            }
            if (!ok) {
                set_error(FR_ERR_SCHEDULE,
                          "step %d: the schedule runs actor %d, which cannot run here "
                          "(finished, blocked or preempted)",
                          g_steps, s->actor);
                return -1;
            }
            g_seg_done++;
            return s->actor;
        case FR_SEG_UNTIL_EVENT:
            if (s->arg < 0 || s->arg > g_sc->n_events || g_event_done[s->arg]) {
                g_seg++;
                g_seg_done = 0;
                continue;
            }
            if (!ok) {
                set_error(FR_ERR_SCHEDULE,
                          "step %d: actor %d cannot run on to the end of event %d "
                          "(finished, blocked or preempted)",
                          g_steps, s->actor, s->arg);
                return -1;
            }
            return s->actor;
        default: /* FR_SEG_UNTIL_BLOCKED */
            if (!ok) {
                g_seg++;
                g_seg_done = 0;
                continue;
            }
            return s->actor;
        }
    }
    return default_pick(mask, current);
}

static int event_owner_ready(int ev, uint32_t mask)
{
    for (int i = 0; i < g_nactors - 1; i++) {
        const fr_actor *a = &g_actors[i];
        if (!(mask >> i & 1))
            continue;
        if (a->event == ev)
            return i;
        if (a->event < 0 && a->pending_op == FR_SP_BEGIN && a->op_index >= 0 &&
            g_sc->ops[a->op_index].event == ev)
            return i;
    }
    return -1;
}

static int pick_event_order(uint32_t mask, int current)
{
    while (g_order_pos < g_run->n_order && g_event_done[g_run->order[g_order_pos]])
        g_order_pos++;
    for (int j = g_order_pos; j < g_run->n_order; j++) {
        int ev = g_run->order[j];
        if (g_event_done[ev])
            continue;
        int who = event_owner_ready(ev, mask);
        if (who >= 0)
            return who;
    }
    return default_pick(mask, current);
}

static int pick_pct(uint32_t mask)
{
    for (int j = 0; j < g_pct_ncps; j++)
        if (g_pct_cps[j] == g_steps) {
            int best = -1;
            for (int i = 0; i < g_nactors; i++)
                if ((mask >> i & 1) && (best < 0 || g_actors[i].pct_prio > g_actors[best].pct_prio))
                    best = i;
            if (best >= 0)
                g_actors[best].pct_prio = (uint64_t)j; /* below every initial priority */
        }
    int best = -1;
    for (int i = 0; i < g_nactors; i++)
        if ((mask >> i & 1) && (best < 0 || g_actors[i].pct_prio > g_actors[best].pct_prio))
            best = i;
    return best;
}

/* PCT (Burckhardt et al., ASPLOS 2010): the scenario's n actors get distinct random
 * initial priorities, d-1 distinct change points are drawn from steps 1..k, and at
 * the j-th one the actor that would run gets priority j, below every initial
 * one. The settle actor (enabled only once everyone else is done) is not one of
 * the n. k is FR_RUN_SPEC.pct_steps: give the scenario's real step count (64
 * when unset), or change points beyond the end never fire. */
void pct_init(void)
{
    int d = g_run->pct_depth < 1 ? 1 : g_run->pct_depth;
    int n = g_nactors - 1;
    int perm[FR_MAX_ACTORS + 1];
    for (int i = 0; i < n; i++)
        perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(rng_next(&g_rng) % (uint64_t)(i + 1));
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (int i = 0; i < n; i++)
        g_actors[i].pct_prio = (uint64_t)(32 + perm[i]);
    g_actors[n].pct_prio = 16; /* settle */
    g_pct_ncps = d - 1 > 16 ? 16 : d - 1;
    int k = g_run->pct_steps > 1 ? g_run->pct_steps : 64;
    for (int j = 0; j < g_pct_ncps; j++) {
        int cp, fresh;
        do {
            cp = 1 + (int)(rng_next(&g_rng) % (uint64_t)k);
            fresh = 1;
            for (int m = 0; m < j; m++)
                fresh &= g_pct_cps[m] != cp;
        } while (!fresh && k >= g_pct_ncps);
        g_pct_cps[j] = cp;
    }
}

static fr_pick_hook g_pick_hook; /* FR_STRAT_CALLBACK's (fr_model.h) */

void fr_set_pick_hook(fr_pick_hook hook) { g_pick_hook = hook; }

int pick(uint32_t mask, int current)
{
    switch (g_run->strategy) {
    case FR_STRAT_RANDOM:
        return pick_random(mask);
    case FR_STRAT_EVENT_ORDER:
        return pick_event_order(mask, current);
    case FR_STRAT_PCT:
        return pick_pct(mask);
    case FR_STRAT_DFS:
        return fr_dfs_pick(g_steps, mask, current);
    case FR_STRAT_CALLBACK: {
        if (!g_pick_hook) {
            set_error(FR_ERR_CALLBACK, "step %d: the callback strategy has no pick hook "
                                       "(fr_set_pick_hook)", g_steps);
            return -1;
        }
        int c = g_pick_hook(g_steps, mask, current);
        if (c < 0 || c >= g_nactors || !(mask >> c & 1)) {
            set_error(FR_ERR_CALLBACK, "step %d: the strategy chose %d, not one of the enabled "
                                       "actors (mask 0x%x)", g_steps, c, mask);
            return -1;
        }
        return c;
    }
    default:
        return pick_schedule(mask, current);
    }
}
