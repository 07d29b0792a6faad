/*
 * checkpoint.c - checkpoints of a controlled execution, for the stateful search.
 *
 * The depth-first search runs every execution from the start, replaying the path's
 * prefix to the step it tries next (explore.c: backtrack). In the stateful search an
 * execution explores a handful of new states and is cut at a visited one, so the
 * prefix is nearly all of it: about two thirds of the time went to replaying it. A
 * checkpoint is the execution's state at one scheduling point of the path, just
 * before the pick: the search resumes the next execution there (fr_engine_resume)
 * instead of replaying.
 *
 * What a checkpoint holds is everything an execution changes:
 *   - the actors (their bookkeeping: fr_actor) and their coroutine stacks: a stack
 *     changes only while its actor runs, so each step keeps its actor's stack after it
 *     (as deep as the fingerprint's stacks go, sched_view.c: the slots below the live
 *     frames too, so a resumed execution finds what a replayed one would);
 *   - the pool (blocks and bytes), the registered globals and the model's state
 *     (fr_register_state), the variant's own objects (stateful.c);
 *   - the loop's scalars: step and write counters, CPU owners, the burst, events;
 *   - what is only appended to (the trace, the write log, violations, poll records,
 *     lock-order edges): their lengths. Entries below a length were written by the
 *     prefix, which every execution resumed from it shares; the write log is a ring,
 *     so checkpoints stop for the search once an execution wraps it.
 * The data-race detector is not held: checkpoints are taken and used only while it
 * rests (fr_race_off); once awake, executions replay as before.
 *
 * Each checkpoint is stamped with the search's generation (a new search or a restart
 * begins another) and a hash of the actors of the steps before it; the explorer
 * resumes at the deepest one at most the step it backtracked to where both match its
 * path (fr_ckpt_deepest), and replays from there (or from the start, if none). The
 * explorer's own check still holds: each step of the path must enable the actors the
 * path recorded there.
 */
#define _GNU_SOURCE
#include "fr_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct ck_point {
    uint32_t gen;       /* 0: none */
    uint64_t path;      /* fr_path_step over the actors of the steps before it */
    uint32_t mask, burst_mask;
    int current;
    int gnode;          /* its node in the state graph (FR_RUN_SPEC.record_states), or -1 */
    uint64_t writes;
    int burst, burst_alone, burst_yields;
    int nviol, nrec, nedges, main_irql;
    int nblocks, nactors, nevents, nglobals, nstate, nobjs;
    size_t arena_used;
    size_t bytes, cap;
    unsigned char *blob;
} ck_point;

typedef struct ck_stack {
    uint32_t gen;
    size_t len, cap;    /* the top len bytes of its actor's stack after the step */
    unsigned char *bytes;
} ck_stack;

static struct {
    ck_point *pt;       /* per depth: the state before the pick */
    ck_stack *st;       /* per step: its actor's stack after it */
    int cap;
    uint32_t gen;
    int armed, from;    /* this execution takes checkpoints from step `from` on */
    int check;          /* > 0: this execution replays to a checkpoint there, compared */
    int off;            /* none for the rest of this generation (the write log wrapped) */
    size_t bytes;       /* held by the buffers */
} K;

/* Checkpoints are taken at the first FR_CKPT_DEPTH steps of an execution, within
 * FR_CKPT_BYTES of buffers: a deeper step resumes at the deepest one and replays the
 * rest (an execution that runs to the step bound would otherwise keep one per step). */
#define FR_CKPT_DEPTH 4096
#define FR_CKPT_BYTES ((size_t)256 << 20)

/* No checkpoint taken so far is valid any more. */
static void fr_ckpt_reset_keep(void)
{
    K.gen++;
    if (!K.gen)
        K.gen = 1;
}

/* A new search, or a restart of one: no checkpoint taken so far is of its path. */
void fr_ckpt_reset(void)
{
    fr_ckpt_reset_keep();
    K.off = 0;
}

static int reserve(int depth)
{
    if (depth < K.cap)
        return 1;
    if (depth >= FR_CKPT_DEPTH)
        return 0;
    int cap = K.cap ? K.cap : 256;
    while (cap <= depth)
        cap *= 2;
    ck_point *p = realloc(K.pt, sizeof(ck_point) * (size_t)cap);
    if (!p)
        return 0;
    memset(p + K.cap, 0, sizeof(ck_point) * (size_t)(cap - K.cap));
    K.pt = p;
    ck_stack *s = realloc(K.st, sizeof(ck_stack) * (size_t)cap);
    if (!s)
        return 0;
    memset(s + K.cap, 0, sizeof(ck_stack) * (size_t)(cap - K.cap));
    K.st = s;
    K.cap = cap;
    return 1;
}

/* The explorer, before each execution of the stateful search: take checkpoints from
 * step `from` (the steps before are its path's, kept by the executions before). */
void fr_ckpt_arm(int on, int from)
{
    K.armed = on && !K.off;
    K.from = from;
}

/* The engine, as an execution begins: whether it takes checkpoints (the explorer armed
 * it; once). Any other execution (a replay, a run of another search or strategy) leaves
 * its own trace, records and stacks where the checkpoints' prefixes were: none of them
 * is valid after it. */
int fr_ckpt_begin(int dfs)
{
    int on = K.armed && dfs;
    K.armed = 0;
    if (!on)
        fr_ckpt_reset_keep();
    return on;
}

void fr_ckpt_check(int depth) { K.check = depth; }

int fr_ckpt_checking(void) { return K.check; }

/* The deepest step at most `target` with a checkpoint of this search's path (path[d]:
 * the hash of the actors of the steps before step d), or 0 if there is none. */
int fr_ckpt_deepest(int target, const uint64_t *path)
{
    if (K.off)
        return 0;
    int top = target < K.cap ? target : K.cap - 1;
    int k = 0;
    while (k < top && K.st[k].gen == K.gen) /* (every step before it kept its stack) */
        k++;
    for (int d = k; d > 0; d--) {
        const ck_point *p = &K.pt[d];
        if (p->gen == K.gen && p->path == path[d])
            return d;
    }
    return 0;
}

/* A buffer of at least `need` bytes, within the budget: 0 if it cannot be had. */
static int fit(unsigned char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 1;
    if (K.bytes + need - *cap > FR_CKPT_BYTES)
        return 0;
    unsigned char *b = realloc(*buf, need);
    if (!b)
        return 0;
    K.bytes += need - *cap;
    *buf = b;
    *cap = need;
    return 1;
}

/* found[a]: the last step before `depth` that actor a took (its stack's checkpoint), or
 * -1 (the trace below `depth` is the path's, which every execution resumed there shares). */
static void last_steps(int depth, int *found)
{
    for (int i = 0; i < g_nactors; i++)
        found[i] = -1;
    int left = g_nactors;
    for (int k = depth - 1; k >= 0 && left; k--) {
        int a = g_trace[k].actor;
        if (a >= 0 && a < g_nactors && found[a] < 0) {
            found[a] = k;
            left--;
        }
    }
}

static unsigned char *put(unsigned char *w, const volatile void *src, size_t n)
{
    memcpy(w, (const void *)src, n);
    return w + n;
}

static const unsigned char *get(const unsigned char *r, volatile void *dst, size_t n)
{
    memcpy((void *)dst, r, n);
    return r + n;
}

static size_t blob_size(int nevents)
{
    size_t n = sizeof(fr_actor) * (size_t)g_nactors + sizeof g_cpu_owner +
               (size_t)(nevents + 1) * (1 + sizeof(int)) + sizeof(fr_block) * (size_t)g_nblocks +
               g_arena_used + fr_stateful_objs_bytes();
    for (int g = 0; g < g_nglobals; g++)
        n += g_globals[g].size;
    for (int s = 0; s < g_nstate; s++)
        n += g_state[s].size;
    return n;
}

/* The loop, at the scheduling point of step `depth` (g_steps), mask enabled: keep the
 * state. A point with one actor enabled is never a branch: nothing is kept there. */
void fr_ckpt_save(uint32_t mask, int current, int gnode, uint64_t path)
{
    int depth = g_steps;
    if (depth < K.from || !reserve(depth))
        return;
    ck_point *p = &K.pt[depth];
    p->gen = 0;
    if (!(mask & (mask - 1)))
        return;
    int nevents = g_sc->n_events;
    size_t need = blob_size(nevents);
    if (!fit(&p->blob, &p->cap, need))
        return;
    unsigned char *w = p->blob;
    w = put(w, g_actors, sizeof(fr_actor) * (size_t)g_nactors);
    w = put(w, g_cpu_owner, sizeof g_cpu_owner);
    w = put(w, g_event_done, (size_t)nevents + 1);
    w = put(w, g_event_step, sizeof(int) * (size_t)(nevents + 1));
    w = put(w, g_blocks, sizeof(fr_block) * (size_t)g_nblocks);
    w = put(w, g_arena, g_arena_used);
    for (int g = 0; g < g_nglobals; g++)
        w = put(w, g_globals[g].p, g_globals[g].size);
    for (int s = 0; s < g_nstate; s++)
        w = put(w, g_state[s].p, g_state[s].size);
    fr_stateful_objs_save(w);
    p->bytes = need;
    p->path = path;
    p->mask = mask;
    p->burst_mask = g_burst_mask;
    p->current = current;
    p->gnode = gnode;
    p->writes = g_writes;
    p->burst = g_burst;
    p->burst_alone = g_burst_alone;
    p->burst_yields = g_burst_yields;
    p->nviol = g_nviol;
    p->nrec = g_nrec;
    p->nedges = g_nedges;
    p->main_irql = g_main_irql;
    p->nblocks = g_nblocks;
    p->nactors = g_nactors;
    p->nevents = nevents;
    p->nglobals = g_nglobals;
    p->nstate = g_nstate;
    p->nobjs = fr_stateful_objs_count();
    p->arena_used = g_arena_used;
    p->gen = K.gen;
}

/* The loop, after step `step` by actor `a`: keep its stack. */
void fr_ckpt_stack(int step, const fr_actor *a)
{
    if (step < K.from || !reserve(step))
        return;
    ck_stack *s = &K.st[step];
    s->gen = 0;
    size_t len = fr_sched_stack_depth();
    const unsigned char *top = a->stack + FR_STACK_SIZE;
#ifndef FR_USE_UCONTEXT /* (the stateful search needs the engine's own switch) */
    size_t live = (size_t)(top - (const unsigned char *)a->ctx.sp);
    if (a->status != A_DONE && live < FR_STACK_SIZE && live > len)
        len = live;
#endif
    if (!fit(&s->bytes, &s->cap, len))
        return;
    memcpy(s->bytes, top - len, len);
    s->len = len;
    s->gen = K.gen;
}

/* The end of an execution: the write log is a ring; once wrapped, an entry below a
 * checkpoint's count may have been overwritten. */
void fr_ckpt_executed(void)
{
    if (g_writes >= FR_WLOG)
        K.off = 1;
}

/* Restore the state of step `depth` (fr_ckpt_deepest named it): the loop goes on with
 * the pick there, *mask enabled, *current the actor that ran last, *gnode its state
 * graph node, *path the hash of the steps before it. 0 if the model's layout differs
 * from the checkpoint's (it never should: the execution then fails with an error). */
int fr_ckpt_restore(int depth, uint32_t *mask, int *current, int *gnode, uint64_t *path)
{
    const ck_point *p = &K.pt[depth];
    if (p->nactors != g_nactors || p->nevents != g_sc->n_events || p->nglobals != g_nglobals ||
        p->nstate != g_nstate || p->nobjs != fr_stateful_objs_count() ||
        p->arena_used > g_arena_cap)
        return 0;
    const unsigned char *r = p->blob;
    /* the actors' stacks (each as its last step before `depth` left it) */
    int found[FR_MAX_ACTORS + 1];
    last_steps(depth, found);
    unsigned char *stacks[FR_MAX_ACTORS + 1];
    for (int i = 0; i < g_nactors; i++)
        stacks[i] = g_actors[i].stack;
    r = get(r, g_actors, sizeof(fr_actor) * (size_t)g_nactors);
    size_t clear = fr_sched_stack_depth();
    for (int i = 0; i < g_nactors; i++) {
        fr_actor *a = &g_actors[i];
        a->stack = stacks[i]; /* (the same buffers: an actor's stack is never freed) */
        unsigned char *top = a->stack + FR_STACK_SIZE;
        if (found[i] >= 0) {
            const ck_stack *s = &K.st[found[i]];
            memcpy(top - s->len, s->bytes, s->len);
            if (s->len < clear)
                memset(top - clear, 0, clear - s->len);
        } else {
            memset(top - clear, 0, clear);
        }
    }
    fr_sched_stacks_changed();
    r = get(r, g_cpu_owner, sizeof g_cpu_owner);
    r = get(r, g_event_done, (size_t)p->nevents + 1);
    r = get(r, g_event_step, sizeof(int) * (size_t)(p->nevents + 1));
    g_nblocks = p->nblocks;
    g_arena_used = p->arena_used;
    r = get(r, g_blocks, sizeof(fr_block) * (size_t)g_nblocks);
    r = get(r, g_arena, g_arena_used);
    for (int g = 0; g < g_nglobals; g++)
        r = get(r, (volatile void *)g_globals[g].p, g_globals[g].size);
    for (int s = 0; s < g_nstate; s++)
        r = get(r, g_state[s].p, g_state[s].size);
    fr_stateful_objs_load(r);
    g_steps = depth;
    g_writes = p->writes;
    g_burst = p->burst;
    g_burst_alone = p->burst_alone;
    g_burst_yields = p->burst_yields;
    g_burst_mask = p->burst_mask;
    g_nviol = p->nviol;
    g_nrec = p->nrec;
    g_nedges = p->nedges;
    g_main_irql = p->main_irql;
    if (g_step_log_fd >= 0) /* (the log holds every step: the prefix's too) */
        for (int k = 0; k < depth && g_step_log_fd >= 0; k++) {
            unsigned char who = (unsigned char)g_trace[k].actor;
            if (write(g_step_log_fd, &who, 1) != 1)
                g_step_log_fd = -1;
        }
    *mask = p->mask;
    *current = p->current;
    *gnode = p->gnode;
    *path = p->path;
    return 1;
}

/* A check of the checkpoints (FR_DFS_SPEC.checkpoint_check): the execution replayed its
 * prefix to step `depth`; compare what it holds with the checkpoint there. 0 if equal,
 * else -1 with the first difference in `why`. */
int fr_ckpt_compare(int depth, uint32_t mask, int current, int gnode, char *why, size_t n)
{
    const ck_point *p = &K.pt[depth];
    if (p->nactors != g_nactors || p->nevents != g_sc->n_events || p->nglobals != g_nglobals ||
        p->nstate != g_nstate || p->nobjs != fr_stateful_objs_count() ||
        p->nblocks != g_nblocks || p->arena_used != g_arena_used) {
        snprintf(why, n, "its layout (actors, events, globals, blocks, arena)");
        return -1;
    }
    if (p->mask != mask || p->current != current || p->gnode != gnode || p->writes != g_writes ||
        p->burst != g_burst || p->burst_alone != g_burst_alone ||
        p->burst_yields != g_burst_yields || p->burst_mask != g_burst_mask ||
        p->nviol != g_nviol || p->nrec != g_nrec || p->nedges != g_nedges ||
        p->main_irql != g_main_irql) {
        snprintf(why, n,
                 "the loop's counters (checkpoint/replay: enabled %#x/%#x, last actor %d/%d, "
                 "state %d/%d, writes %llu/%llu, burst %d/%d, %d/%d, %d/%d, mask %#x/%#x, "
                 "violations %d/%d, records %d/%d, lock edges %d/%d)",
                 p->mask, mask, p->current, current, p->gnode, gnode, (unsigned long long)p->writes,
                 (unsigned long long)g_writes, p->burst, g_burst, p->burst_alone, g_burst_alone,
                 p->burst_yields, g_burst_yields, p->burst_mask, g_burst_mask, p->nviol, g_nviol,
                 p->nrec, g_nrec, p->nedges, g_nedges);
        return -1;
    }
    size_t need = blob_size(p->nevents);
    unsigned char *b = malloc(need ? need : 1);
    if (!b)
        return 0;
    unsigned char *w = b;
    const char *names[8] = {"actors", "cpu owners", "events", "event steps", "blocks", "arena",
                            "globals and model state", "variant objects"};
    size_t ends[8];
    w = put(w, g_actors, sizeof(fr_actor) * (size_t)g_nactors), ends[0] = (size_t)(w - b);
    w = put(w, g_cpu_owner, sizeof g_cpu_owner), ends[1] = (size_t)(w - b);
    w = put(w, g_event_done, (size_t)p->nevents + 1), ends[2] = (size_t)(w - b);
    w = put(w, g_event_step, sizeof(int) * (size_t)(p->nevents + 1)), ends[3] = (size_t)(w - b);
    w = put(w, g_blocks, sizeof(fr_block) * (size_t)g_nblocks), ends[4] = (size_t)(w - b);
    w = put(w, g_arena, g_arena_used), ends[5] = (size_t)(w - b);
    for (int g = 0; g < g_nglobals; g++)
        w = put(w, g_globals[g].p, g_globals[g].size);
    for (int s = 0; s < g_nstate; s++)
        w = put(w, g_state[s].p, g_state[s].size);
    ends[6] = (size_t)(w - b);
    fr_stateful_objs_save(w);
    ends[7] = need;
    int rc = 0;
    for (size_t i = 0; i < need; i++)
        if (b[i] != p->blob[i]) {
            int k = 0;
            while (ends[k] <= i)
                k++;
            size_t at = i - (k ? ends[k - 1] : 0);
            if (k == 0)
                snprintf(why, n, "actor %zu's bookkeeping, byte %zu", at / sizeof(fr_actor),
                         at % sizeof(fr_actor));
            else
                snprintf(why, n, "%s, byte %zu", names[k], at);
            rc = -1;
            break;
        }
    free(b);
    if (rc)
        return rc;
    int found[FR_MAX_ACTORS + 1];
    last_steps(depth, found);
    /* the live part of each stack (below it, what frames left is no state: a checkpoint
     * taken before the fingerprints' stacks went as deep keeps less of it) */
    for (int i = 0; i < g_nactors; i++) {
        if (found[i] < 0 || g_actors[i].status == A_DONE)
            continue;
        const ck_stack *s = &K.st[found[i]];
        const unsigned char *top = g_actors[i].stack + FR_STACK_SIZE;
#ifdef FR_USE_UCONTEXT
        size_t live = s->len;
#else
        size_t live = (size_t)(top - (const unsigned char *)g_actors[i].ctx.sp);
#endif
        if (live > s->len) {
            snprintf(why, n, "actor %d's stack: %zu bytes live, %zu kept", i, live, s->len);
            return -1;
        }
        for (size_t j = 0; j < live; j++)
            if (top[-(long)live + (long)j] != s->bytes[s->len - live + j]) {
                snprintf(why, n, "actor %d's stack, %zu bytes below its top", i, live - j);
                return -1;
            }
    }
    return 0;
}
