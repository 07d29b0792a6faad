/*
 * explore.c - systematic exploration inside the engine: the depth-first search
 * over schedules with dynamic partial-order reduction, its shards, and the count
 * of the interleavings it stands for (the state graph it may feed: stategraph.c).
 *
 * The search is stateless (Flanagan & Godefroid, POPL 2005, with sleep sets): an
 * execution re-runs from the start with a forced prefix of choices, then takes
 * the current actor while it can (else the lowest-numbered one). After each step
 * it finds, for every actor, the latest earlier step that is dependent with what
 * that actor does next, may be co-enabled with it and does not happen before it,
 * and asks that the actor (or, when it could not run there, every actor that
 * could) be tried at that point. Sleep sets keep one execution per equivalence
 * class among the ones that run to their end.
 *
 * What "dependent" means here (two steps of different actors):
 *   - same CPU (conservative: a DPC that raises its CPU to DISPATCH disables the
 *     other actors there, and any step may raise or lower it);
 *   - overlapping bytes of memory, at least one writes (as executed: a
 *     compare-exchange that failed, or an exchange that stored the same value, only
 *     read; a pending interlocked operation, and any instrumented plain or volatile
 *     store of the variant (access.c), counts as a write); spin locks count as
 *     writes to their word; every list operation touches one "lists" object;
 *   - a free and any access to the same pool block;
 *   - a free and any list operation (a list operation touches the links of its
 *     entry and of the entry's neighbours, whichever flows they are).
 * Events (an operation waiting for another's end), the settle actor (after
 * everyone), the same-CPU-owner pairs and any pair where one actor holds a spin
 * lock the other holds or takes are orderings, never races: they enter
 * happens-before but are not co-enabled. Counting such a pair as a race would be
 * worse than wasteful: its reversal cannot happen, and its clock would hide the
 * race that can (the lock acquisition that opened the critical section).
 *
 * Spins (spin.c): after YieldProcessor a spinner waits until another
 * actor writes a word its iteration accessed, or runs a burst (its next
 * iterations alone). Whether it may run, and which of the two it does, depends
 * on the writes to those words: the step that ends a wait reads them all. A
 * burst's later steps are forced (nobody else can run between them): a race with
 * one of them is reversed before the burst's first step (race_point), and a
 * forced step may itself be the later step of a race (the burst may read a word
 * the iteration before it did not: a retry's last try, say). Whether a burst that
 * runs out was alone (a livelock) or not (it changed nothing and waits on) depends
 * on whether anyone else could run, which no footprint records: the search places such a fruitless burst anywhere it is
 * independent, so two livelocks it tells apart only by how many fruitless spins
 * came first count as one. A wide spin (lists, or too many words) waits for any
 * write since its iteration began: the step after its yield, and the beginning of
 * an operation once that operation has been seen to spin wide, read "the world"
 * (depend on every step of another actor that wrote); when an execution shows a
 * new one, the search starts over with it.
 *
 * Counting: every schedule belongs to exactly one equivalence class, and sleep
 * sets run one maximal execution per class, so the number of schedules a search
 * without reduction would run is the sum, over the maximal executions explored,
 * of the linear extensions of their happens-before order (a dynamic program over
 * the per-actor progress vectors).
 */
#define _GNU_SOURCE
#include "fr_engine.h"
#include "fr_sched.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAXA 32
#define KEY_LISTS ((uintptr_t)1)
#define KEY_POOL ((uintptr_t)2)
#define COUNT_CAP (1 << 22) /* progress vectors beyond which an execution is not counted */

enum { C_WRITE = 1, C_FREE = 2, C_LOCK = 4, C_UNLOCK = 8, C_WORLD = 16, C_WROTE = 32,
       C_FORCED = 64 };
#define FP_KEYS 4 /* words a spin's wait may read; more read the world */
#define FP_HELD 8 /* spin locks an actor may hold at once (fr_internal.h: FR_MAX_HELD) */

typedef struct fp {
    uintptr_t key;
    int size;                /* bytes from key: accesses conflict when their bytes overlap */
    uintptr_t wait[FP_KEYS]; /* the step ends a spin's wait: it reads these */
    uintptr_t held[FP_HELD]; /* spin locks its actor held right before the step */
    int wait_size[FP_KEYS];
    int block;
    short actor;
    short cpu;
    unsigned char cat;
    unsigned char owns;
    unsigned char nwait;
    unsigned char nheld;
} fp;

typedef struct node {
    uint32_t enabled, backtrack, done, sleep;
    int chosen;
    int preempt; /* preemptions among the steps before this one */
    fp f;        /* the chosen step's footprint */
    int64_t sid; /* stateful: the number of the state before the step, -1 if none */
    int fresh;   /* stateful with reduction: its summary is not written yet */
} node;

static struct {
    const FR_SCENARIO_SPEC *sc;
    FR_RUN_SPEC run;
    FR_DFS_SPEC spec;
    int *prefix;
    node *nodes;
    int *vc;       /* per step: for each actor, the latest of its steps that happens before */
    fr_touch *nt;  /* stateful with reduction, per step: what the chosen step touches */
    fr_touch *sums; /* per step, MAXA actors: what each actor's steps below it touch */
    int sums_cap;
    int64_t cut_sid; /* the visited state an execution was cut at */
    int cycle;     /* a cut at a state still on the path: the graph has a cycle */
    int cap;
    int na;
    int len;       /* nodes on the current path */
    int target;    /* first step the current execution has not run before */
    int floor;     /* never backtrack above this depth (a shard's prefix) */
    uint32_t next_sleep;
    int cut;       /* the current execution was cut: 1 asleep, 2 shard boundary, 3 bound */
    int last[MAXA];
    unsigned char *spin_op; /* per scenario operation (+ settle): seen to spin wide */
    int restart;
    int restarts;
    FR_DFS_STATUS st;
    int *wit[16];
    int wit_len[16], wit_pre[16];
    int *shards;   /* split mode: split_depth actors per shard */
    uint32_t *shard_sleep;
    int n_shards, shard_cap;
    double *count_f; /* zeroed between counts */
    int *count_q;
    int count_f_cap;
    int started;
} X;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int grow(int need)
{
    if (need > X.cap) {
        int cap = X.cap ? X.cap : 256;
        while (cap < need)
            cap *= 2;
        node *n = realloc(X.nodes, sizeof(node) * (size_t)cap);
        if (!n)
            return 0;
        X.nodes = n;
        int *v = realloc(X.vc, sizeof(int) * (size_t)cap * MAXA);
        if (!v)
            return 0;
        X.vc = v;
        X.cap = cap;
    }
    if (X.spec.stateful && X.sums_cap < X.cap) {
        fr_touch *t = realloc(X.nt, sizeof(fr_touch) * (size_t)X.cap);
        if (!t)
            return 0;
        X.nt = t;
        fr_touch *u = realloc(X.sums, sizeof(fr_touch) * (size_t)X.cap * MAXA);
        if (!u)
            return 0;
        X.sums = u;
        X.sums_cap = X.cap;
    }
    return 1;
}

/* ---- footprints ------------------------------------------------------------------ */
static int is_spin_op(int op) { return op == FR_SP_YIELD || op == FR_SP_STALL; }

static int spin_slot(int op_index) { return op_index < 0 ? X.sc->n_ops : op_index; }


/* wrote: the step changed memory (executed), or would in the current state (pending) */
static void footprint_core(fp *f, int op, const volatile void *obj, int wrote)
{
    f->cat = 0;
    f->key = 0;
    f->block = -1;
    switch (op) {
    case FR_SP_BEGIN:
    case FR_SP_YIELD:
    case FR_SP_STALL:
        return;
    case FR_SP_READ:
    case FR_SP_PLAIN_READ:    /* instrumented accesses (access.c) */
    case FR_SP_VOLATILE_READ:
        f->key = (uintptr_t)obj;
        break;
    case FR_SP_LIST_READ:
        f->key = KEY_LISTS;
        return;
    case FR_SP_LIST_INSERT:
    case FR_SP_LIST_REMOVE:
        f->key = KEY_LISTS;
        f->cat = wrote ? C_WRITE : 0;
        return;
    case FR_SP_LOCK:
        f->key = (uintptr_t)obj;
        f->cat = C_WRITE | C_LOCK;
        break;
    case FR_SP_UNLOCK:
        f->key = (uintptr_t)obj;
        f->cat = C_WRITE | C_UNLOCK;
        break;
    case FR_SP_ALLOC:
        f->key = KEY_POOL;
        f->cat = C_WRITE;
        return;
    case FR_SP_FREE:
        f->key = (uintptr_t)obj;
        f->cat = C_WRITE | C_FREE;
        break;
    default: /* interlocked operations, writes, instrumented writes and atomics */
        f->key = (uintptr_t)obj;
        f->cat = wrote ? C_WRITE : 0;
        break;
    }
    f->block = f->key > KEY_POOL ? fr_pool_block_index(obj) : -1;
}

/* The footprint of an actor's step: the one it just took (pending 0; v viewed after
 * it) or the one it would take next (pending 1). */
static void footprint(fp *f, int actor, int op, const volatile void *obj, int size, int op_index,
                      int wrote, int pending, const fr_actor_view *v, int owns, int forced)
{
    footprint_core(f, op, obj, wrote);
    f->size = f->key > KEY_POOL && size > 0 ? size : 1; /* the lists and the pool: one byte */
    f->actor = (short)actor;
    f->cpu = (short)v->cpu;
    f->owns = (unsigned char)owns;
    if (pending ? (f->cat & C_WRITE) != 0 : wrote)
        f->cat |= C_WROTE;
    if (forced)
        f->cat |= C_FORCED;
    f->nwait = 0;
    if (pending ? v->spin_wait : v->woke) {
        int n = pending ? v->n_keys : v->n_woke;
        const volatile void *const *keys = pending ? v->keys : v->woke_keys;
        if (n < 0 || n > FP_KEYS)
            f->cat |= C_WORLD;
        else
            for (int k = 0; k < n; k++) {
                f->wait_size[f->nwait] = (pending ? v->key_sizes : v->woke_key_sizes)[k];
                f->wait[f->nwait++] = (uintptr_t)keys[k];
            }
    }
    if (op == FR_SP_BEGIN && X.spin_op[spin_slot(op_index)])
        f->cat |= C_WORLD;
    /* the locks held before the step: the view is taken after a step that ran, so a
     * lock it took is not yet held, and one it released still was */
    f->nheld = 0;
    for (int h = 0; h < v->n_held && f->nheld < FP_HELD; h++)
        if (pending || op != FR_SP_LOCK || v->held[h] != obj)
            f->held[f->nheld++] = (uintptr_t)v->held[h];
    if (!pending && op == FR_SP_UNLOCK && obj && f->nheld < FP_HELD)
        f->held[f->nheld++] = (uintptr_t)obj;
}

static void pending_fp(int actor, fp *f)
{
    fr_actor_view v;
    fr_sched_view(actor, &v);
    footprint(f, actor, v.pending_op, v.pending_obj, v.pending_size, v.op_index, v.pending_writes,
              1, &v, v.owns_cpu, 0);
}

/* Do [a, a+na) and [b, b+nb) share a byte? (Accesses of different sizes to one word.) */
static int overlap(uintptr_t a, int na, uintptr_t b, int nb)
{
    return a < b + (uintptr_t)nb && b < a + (uintptr_t)na;
}

static int waits_on(const fp *w, const fp *b)
{
    if (!(b->cat & C_WROTE) || !b->key)
        return 0;
    for (int k = 0; k < w->nwait; k++)
        if (overlap(w->wait[k], w->wait_size[k], b->key, b->size))
            return 1;
    return 0;
}

static int dependent(const fp *a, const fp *b)
{
    if (a->cpu == b->cpu)
        return 1;
    if (((a->cat & C_WORLD) && (b->cat & C_WROTE)) || ((b->cat & C_WORLD) && (a->cat & C_WROTE)))
        return 1;
    if (waits_on(a, b) || waits_on(b, a))
        return 1;
    if (a->block >= 0 && a->block == b->block && ((a->cat | b->cat) & C_FREE))
        return 1;
    /* a list operation reads and writes the links of its entry and of the entry's
     * neighbours, whichever flows they are: a free conflicts with every one */
    if (((a->cat & C_FREE) && b->key == KEY_LISTS) || ((b->cat & C_FREE) && a->key == KEY_LISTS))
        return 1;
    return a->key && b->key && overlap(a->key, a->size, b->key, b->size) &&
           ((a->cat | b->cat) & C_WRITE);
}

/* Does a hold, right before its step, a spin lock that b holds or takes? */
static int lock_conflict(const fp *a, const fp *b)
{
    for (int h = 0; h < a->nheld; h++) {
        if ((b->cat & C_LOCK) && b->key == a->held[h])
            return 1;
        for (int k = 0; k < b->nheld; k++)
            if (b->held[k] == a->held[h])
                return 1;
    }
    return 0;
}

/* Could the two steps be enabled in the same state, so that either could run first?
 * A pair that cannot is ordered, never a race: reversing it is impossible, and
 * counting it as a race would hide, behind it, the race that can be reversed (the
 * lock that opened the critical section, say). */
static int coenabled(const fp *a, const fp *b)
{
    if (a->cpu == b->cpu && (a->owns || b->owns))
        return 0;
    if (a->key == b->key && (a->cat & (C_LOCK | C_UNLOCK)) && (b->cat & (C_LOCK | C_UNLOCK)) &&
        ((a->cat ^ b->cat) & C_UNLOCK))
        return 0;
    return !lock_conflict(a, b) && !lock_conflict(b, a);
}

/* A burst runs alone: nothing can be placed between its steps, so a race with one of
 * its forced steps is reversed before the burst's first step (the index returned). */
static int race_point(int i)
{
    while (i > 0 && (X.nodes[i].f.cat & C_FORCED))
        i--;
    return i;
}

/* ---- stateful search with reduction: what a finished state's steps touch -------------
 * A search that cuts an execution at a visited state skips the steps that would follow:
 * the races between them and the steps before the cut are not seen. So each finished
 * state keeps a summary, per actor, of what every step below it touched (explored from
 * there, through further cuts, and the steps still pending at the ends), and a cut
 * reverses, conservatively, every race the summary may hold (sr_cut_races): with the
 * rule of Flanagan and Godefroid, whose sets are persistent at every state, which is
 * what makes cutting at a state sound (Yang, Chen, Gopalakrishnan, Kirby, SPIN 2008).
 * Words are kept as bits of a 256-bit mask: a collision makes more steps dependent,
 * never fewer. A cut at a state still on the path (a cycle, which that combination does
 * not cover) makes the search start over without reduction. */
static void join(int *dst, const int *src);

#define T_WORLD 1
#define T_WROTE 2

static void touch_word(uint64_t m[4], uint64_t word)
{
    /* (words of memory come as stable addresses: the same bits in every run) */
    unsigned b = (unsigned)((word * 0x9E3779B97F4A7C15ULL) >> 56);
    m[b >> 6] |= 1ULL << (b & 63);
}

static void touch_range(uint64_t m[4], uintptr_t key, int size)
{
    uintptr_t a = key >> 3, b = (key + (uintptr_t)(size > 0 ? size : 1) - 1) >> 3;
    if (b - a >= 32) {
        for (int k = 0; k < 4; k++)
            m[k] = ~0ULL;
        return;
    }
    for (uintptr_t w = a; w <= b; w++)
        touch_word(m, fr_stable_address(w << 3) | 4); /* never a special key's word (1, 2) */
}

/* Add what the step f touches to t: the over-approximation of dependent() below. A
 * step taken while holding a spin lock goes to that lock's slot (if there is room). */
static void touch_add(fr_touch *t, const fp *f)
{
    t->cpus |= 1ULL << (f->cpu & 63);
    if (f->cat & C_WORLD)
        t->flags |= T_WORLD;
    if (f->cat & C_WROTE)
        t->flags |= T_WROTE;
    uint64_t *r = t->r, *w = t->w;
    if (f->nheld > 0) {
        uint32_t k = 0;
        while (k < t->nlocks && t->lock[k] != f->held[0])
            k++;
        if (k == t->nlocks && k < FR_TOUCH_LOCKS)
            t->lock[t->nlocks++] = f->held[0];
        if (k < t->nlocks) {
            r = t->lr[k];
            w = t->lw[k];
        }
    }
    uint64_t *m = (f->cat & (C_WRITE | C_WROTE)) ? w : r;
    if (f->key == KEY_LISTS || f->key == KEY_POOL)
        touch_word(m, f->key);
    else if (f->key)
        touch_range(m, f->key, f->size);
    if (f->block >= 0) /* a free conflicts with any access to its block, and the lists */
        touch_word((f->cat & C_FREE) ? w : r, 0xB10C000000000000ULL + (uint64_t)f->block);
    if (f->cat & C_FREE)
        touch_word(w, KEY_LISTS);
    for (int k = 0; k < f->nwait; k++)
        touch_range(r, f->wait[k], f->wait_size[k]);
}

static void masks_or(uint64_t *dr, uint64_t *dw, const uint64_t *sr_, const uint64_t *sw)
{
    for (int k = 0; k < 4; k++) {
        dr[k] |= sr_[k];
        dw[k] |= sw[k];
    }
}

static void touch_or(fr_touch *dst, const fr_touch *src)
{
    masks_or(dst->r, dst->w, src->r, src->w);
    dst->cpus |= src->cpus;
    dst->flags |= src->flags;
    for (uint32_t j = 0; j < src->nlocks; j++) {
        uint32_t k = 0;
        while (k < dst->nlocks && dst->lock[k] != src->lock[j])
            k++;
        if (k == dst->nlocks && k < FR_TOUCH_LOCKS)
            dst->lock[dst->nlocks++] = src->lock[j];
        if (k < dst->nlocks)
            masks_or(dst->lr[k], dst->lw[k], src->lr[j], src->lw[j]);
        else /* no room: as if taken without the lock */
            masks_or(dst->r, dst->w, src->lr[j], src->lw[j]);
    }
}

static int masks_dep(const fr_touch *e, const uint64_t *r, const uint64_t *w)
{
    for (int k = 0; k < 4; k++)
        if (((e->w[k] | e->lw[0][k]) & (r[k] | w[k])) | ((e->r[k] | e->lr[0][k]) & w[k]))
            return 1;
    return 0;
}

/* May the step g (touching e) depend on, and be co-enabled with, one of the steps
 * summarised in t? A summarised step that holds a spin lock g holds is ordered with it. */
static int touch_dep(const fp *g, const fr_touch *e, const fr_touch *t)
{
    if (e->cpus & t->cpus)
        return 1;
    if (((e->flags & T_WORLD) && (t->flags & T_WROTE)) ||
        ((t->flags & T_WORLD) && (e->flags & T_WROTE)))
        return 1;
    if (masks_dep(e, t->r, t->w))
        return 1;
    for (uint32_t k = 0; k < t->nlocks; k++) {
        int held = 0;
        for (int h = 0; h < g->nheld && !held; h++)
            held = g->held[h] == t->lock[k];
        if (!held && masks_dep(e, t->lr[k], t->lw[k]))
            return 1;
    }
    return 0;
}

static int sr(void) { return X.spec.stateful && X.spec.reduction && X.spec.split_depth <= 0; }

/* The execution that just ended (n steps) was cut at a finished state whose steps t
 * summarises: every step of the path that one of them may race with is reversed, the
 * actor run first there (or, if it could not run, everyone). */
static void sr_cut_races(const fr_touch *t, int n)
{
    for (int p = 0; p < X.na - 1; p++) { /* the settle poll begins after everyone's end */
        if (!t[p].cpus)
            continue; /* no steps below */
        const int *clock = X.last[p] >= 0 ? &X.vc[(size_t)X.last[p] * MAXA] : NULL;
        for (int i = n - 1; i >= X.floor; i--) {
            const node *g = &X.nodes[i];
            if (g->f.actor == p || (clock && clock[g->f.actor] >= i))
                continue;
            int r = race_point(i);
            if (r < X.floor)
                continue;
            node *m = &X.nodes[r];
            uint32_t add = (m->enabled >> p & 1) ? 1u << p : m->enabled;
            if (!(add & ~m->backtrack) || !touch_dep(&g->f, &X.nt[i], &t[p]))
                continue; /* nothing to add there (the usual case), or independent */
            m->backtrack |= add;
        }
    }
}

/* The summaries of the path's states, from the bottom: tail is what follows the last
 * step (the cut state's summary, or the steps still pending at the end). */
static void sr_propagate(const fr_touch *tail, int n)
{
    fr_touch acc[MAXA];
    size_t width = sizeof(fr_touch) * (size_t)X.na;
    memcpy(acc, tail, width);
    for (int k = n - 1; k >= X.floor; k--) {
        node *nd = &X.nodes[k];
        touch_or(&acc[nd->f.actor], &X.nt[k]);
        fr_touch *s = &X.sums[(size_t)k * MAXA];
        if (nd->fresh) {
            memcpy(s, acc, width);
            nd->fresh = 0;
            continue;
        }
        int changed = 0;
        for (int a = 0; a < X.na; a++) {
            fr_touch u = s[a];
            touch_or(&u, &acc[a]);
            if (memcmp(&u, &s[a], sizeof u)) {
                s[a] = u;
                changed = 1;
            }
        }
        if (!changed)
            break; /* the states above hold it already */
    }
}

static void sr_end(int n)
{
    fr_touch tail[MAXA];
    memset(tail, 0, sizeof tail);
    if (X.cut == 4) {
        uint32_t id;
        const fr_touch *t = NULL;
        if (!fr_stateful_finished(X.cut_sid, &id) || !(t = fr_stateful_summary(id))) {
            X.cycle = 1; /* on the path (or no memory for its summary) */
            return;
        }
        sr_cut_races(t, n);
        memcpy(tail, t, sizeof(fr_touch) * (size_t)X.na);
    } else {
        for (int p = 0; p < X.na; p++) {
            fr_actor_view pv;
            fr_sched_view(p, &pv);
            if (pv.status == FR_VIEW_DONE)
                continue;
            fp f;
            pending_fp(p, &f);
            touch_add(&tail[p], &f);
        }
    }
    sr_propagate(tail, n);
}

/* Nodes from depth d down leave the path: their states are finished. */
static void sr_finish(int d)
{
    for (int k = X.len - 1; k >= d && k >= X.floor; k--)
        if (X.nodes[k].sid >= 0)
            fr_stateful_finish(X.nodes[k].sid,
                               fr_stateful_summary_intern(&X.sums[(size_t)k * MAXA], X.na));
}

/* ---- the search ---------------------------------------------------------------------- */
static int is_preemption(int d, int chosen)
{
    if (d == 0)
        return 0;
    int prev = X.nodes[d - 1].chosen;
    return chosen != prev && (X.nodes[d].enabled >> prev & 1);
}

static void join(int *dst, const int *src)
{
    for (int a = 0; a < X.na; a++)
        if (src[a] > dst[a])
            dst[a] = src[a];
}

/* Source-DPOR (Abdulla et al., POPL 2014): the race (i, e) is reversed by running,
 * at the state before i, an actor that can start notdep(i).e (the steps after i that
 * do not happen after it, then e). `clock` is e's happens-before clock, `last` the
 * index of e's last step in the sequence (e itself, or the end for a pending e), and
 * e belongs to `actor`. */
static void reverse_race(int i, int last, int actor, const int *clock)
{
    if (i < X.floor)
        return;
    node *n = &X.nodes[i];
    if (X.spec.stateful) { /* Flanagan-Godefroid: persistent sets, which a cut needs */
        n->backtrack |= (n->enabled >> actor & 1) ? 1u << actor : n->enabled;
        return;
    }
    int ai = X.nodes[i].f.actor;
    uint32_t initials = 0, seen = 0;
    for (int j = i + 1; j < last; j++) {
        const int *vj = &X.vc[(size_t)j * MAXA];
        if (vj[ai] >= i)
            continue; /* happens after i */
        int a = X.nodes[j].chosen;
        if (seen >> a & 1)
            continue;
        seen |= 1u << a;
        int first = 1;
        for (int b = 0; b < X.na && first; b++)
            if (b != a && vj[b] > i)
                first = 0;
        if (first)
            initials |= 1u << a;
    }
    if (!(seen >> actor & 1)) {
        int first = 1;
        for (int b = 0; b < X.na && first; b++)
            if (b != actor && b != ai && clock[b] > i)
                first = 0;
        if (first)
            initials |= 1u << actor;
    }
    initials &= n->enabled;
    if (!initials) { /* cannot name who starts it: everyone (Flanagan-Godefroid) */
        n->backtrack |= n->enabled;
        return;
    }
    if (initials & (n->backtrack | n->done))
        return;
    uint32_t awake = initials & ~n->sleep;
    if (!awake)
        return; /* every initial is asleep: explored from an earlier sibling */
    n->backtrack |= (awake >> actor & 1) ? 1u << actor : awake & -awake;
}

/* Races of an actor's pending step (one that never ran: the actor was blocked when
 * the execution ended) with the steps before it. */
static void pending_races(int p, int n_steps)
{
    fp t;
    pending_fp(p, &t);
    int clock[MAXA];
    if (X.last[p] >= 0)
        memcpy(clock, &X.vc[(size_t)X.last[p] * MAXA], sizeof clock);
    else
        for (int a = 0; a < MAXA; a++)
            clock[a] = -1;
    int races[64], nr = 0;
    int rc[MAXA];
    memcpy(rc, clock, sizeof rc);
    for (int i = n_steps - 1; i >= X.floor; i--) {
        const fp *g = &X.nodes[i].f;
        if (g->actor == p || (clock[g->actor] >= i && rc[g->actor] >= i) || !dependent(g, &t))
            continue;
        if (clock[g->actor] < i)
            join(clock, &X.vc[(size_t)i * MAXA]);
        int r = race_point(i);
        if (rc[g->actor] < r && coenabled(&X.nodes[r].f, &t)) {
            if (nr < 64)
                races[nr++] = r;
            join(rc, &X.vc[(size_t)r * MAXA]);
        }
    }
    for (int r = 0; r < nr; r++)
        reverse_race(races[r], n_steps, p, clock);
}

static void record_shard(int d, uint32_t sleep)
{
    if (X.n_shards == X.shard_cap) {
        int cap = X.shard_cap ? X.shard_cap * 2 : 64;
        int *s = realloc(X.shards, sizeof(int) * (size_t)cap * (size_t)(X.spec.split_depth + 1));
        uint32_t *z = realloc(X.shard_sleep, sizeof(uint32_t) * (size_t)cap);
        if (!s || !z) {
            if (s)
                X.shards = s;
            if (z)
                X.shard_sleep = z;
            return;
        }
        X.shards = s;
        X.shard_sleep = z;
        X.shard_cap = cap;
    }
    int *row = &X.shards[(size_t)X.n_shards * (size_t)(X.spec.split_depth + 1)];
    row[0] = d;
    for (int i = 0; i < d; i++)
        row[1 + i] = X.nodes[i].chosen;
    X.shard_sleep[X.n_shards++] = sleep;
}

int fr_dfs_pick(int d, uint32_t mask, int current)
{
    if (!grow(d + 2)) {
        fr_sched_fail(FR_ERR_RESOURCES, "out of memory (search stack)");
        return -1;
    }
    node *n = &X.nodes[d];
    if (d < X.len) { /* a step of the path: the same state, the recorded choice */
        if (n->enabled != mask) {
            fr_sched_fail(FR_ERR_CALLBACK,
                          "the execution is not deterministic: a replayed prefix enabled other "
                          "actors (does the variant keep state outside the shim?)");
            return -1;
        }
        return n->chosen;
    }
    if (X.spec.split_depth > 0 && d == X.spec.split_depth) {
        if (mask & ~X.next_sleep)
            record_shard(d, X.next_sleep);
        X.cut = 2;
        return -1;
    }
    n->sid = -1;
    if (X.spec.stateful && d >= X.floor) {
        int64_t id;
        if (!fr_stateful_visit_id(&id)) {
            X.cut = 4; /* explored from its first visit (stateful.c) */
            X.cut_sid = id;
            return -1;
        }
        n->sid = id;
        n->fresh = 1;
    }
    n->enabled = mask;
    n->preempt = d ? X.nodes[d - 1].preempt + is_preemption(d - 1, X.nodes[d - 1].chosen) : 0;
    int c;
    if (d < X.floor) { /* a shard's prefix */
        c = X.prefix[d];
        n->sleep = 0;
        if (c < 0 || c >= X.na || !(mask >> c & 1)) {
            fr_sched_fail(FR_ERR_SCHEDULE, "the shard's prefix names an actor that cannot run");
            return -1;
        }
    } else {
        n->sleep = d == X.floor && X.floor > 0 ? X.spec.prefix_sleep : X.next_sleep;
        if (!X.spec.reduction || X.spec.stateful)
            n->sleep = 0; /* sleep sets would need the state's own (Godefroid) */
        uint32_t cand = mask & ~n->sleep;
        if (!cand) {
            X.cut = 1;
            return -1;
        }
        int bound = X.spec.preemption_bound;
        uint32_t allowed = cand;
        if (bound >= 0 && d > 0 && n->preempt >= bound) {
            int prev = X.nodes[d - 1].chosen;
            if (mask >> prev & 1)
                allowed &= 1u << prev; /* only continuing is not a preemption */
        }
        if (!allowed) {
            X.st.bound_pruned++;
            X.cut = 3;
            return -1;
        }
        /* by default nobody begins a burst: the search reaches bursts by reversing races */
        uint32_t pref = allowed & ~fr_sched_burst_mask();
        if (!pref)
            pref = allowed;
        c = (current >= 0 && (pref >> current & 1)) ? current : __builtin_ctz(pref);
        /* the search without reduction, and the levels above the shards, try everyone */
        n->backtrack = (!X.spec.reduction || X.spec.split_depth > 0) ? cand : 1u << c;
    }
    if (d < X.floor)
        n->backtrack = 1u << c;
    n->done = 1u << c;
    n->chosen = c;
    X.len = d + 1;
    return c;
}


void fr_dfs_stepped(int d, int c, int op, const volatile void *obj, int op_index, int wrote,
                    int owned, int forced)
{
    if (d < X.target) {
        X.last[c] = d;
        return;
    }
    node *n = &X.nodes[d];
    fr_actor_view v;
    fr_sched_view(c, &v);
    footprint(&n->f, c, op, obj, fr_sched_step_size(d), op_index, wrote, 0, &v, owned, forced);
    if (X.spec.stateful) {
        memset(&X.nt[d], 0, sizeof X.nt[d]);
        touch_add(&X.nt[d], &n->f);
    }
    if (X.spec.stateful && fr_stateful_note(op, obj, fr_sched_step_size(d), op_index))
        X.restart = 1;
    if (is_spin_op(op) && v.spin_wait && v.n_keys < 0 && !X.spin_op[spin_slot(op_index)]) {
        X.spin_op[spin_slot(op_index)] = 1;
        X.restart = 1;
    }
    /* happens-before: program order, the orderings that enable the step (events,
     * settle), then every earlier dependent step; a dependent step that does not
     * already happen before is a race */
    int *vc = &X.vc[(size_t)d * MAXA];
    if (X.last[c] >= 0)
        memcpy(vc, &X.vc[(size_t)X.last[c] * MAXA], sizeof(int) * MAXA);
    else
        for (int a = 0; a < MAXA; a++)
            vc[a] = -1;
    if (op == FR_SP_BEGIN) {
        if (op_index < 0) { /* settle: after every other actor */
            for (int a = 0; a < X.na; a++)
                if (a != c && X.last[a] >= 0)
                    join(vc, &X.vc[(size_t)X.last[a] * MAXA]);
        } else {
            const FR_OP_SPEC *o = &X.sc->ops[op_index];
            for (int k = 0; k < o->n_after; k++) {
                int s = fr_sched_event_step(o->after[k]);
                if (s >= 0 && s < d)
                    join(vc, &X.vc[(size_t)s * MAXA]);
            }
        }
    }
    int analyse = X.spec.reduction && X.spec.split_depth <= 0;
    int races[64], nr = 0;
    /* rc: happens-before through races only. An unlock before a lock of the same
     * lock (or a step of a CPU's owner before another step there) orders them but
     * is no race: the lock that opened the critical section races with ours. */
    int rc[MAXA];
    memcpy(rc, vc, sizeof rc);
    for (int i = d - 1; i >= 0; i--) {
        const fp *g = &X.nodes[i].f;
        if (g->actor == c || (vc[g->actor] >= i && rc[g->actor] >= i) || !dependent(g, &n->f))
            continue;
        if (vc[g->actor] < i)
            join(vc, &X.vc[(size_t)i * MAXA]);
        int r = race_point(i);
        if (rc[g->actor] < r && coenabled(&X.nodes[r].f, &n->f)) {
            if (analyse && r >= X.floor && nr < 64)
                races[nr++] = r;
            join(rc, &X.vc[(size_t)r * MAXA]);
        }
    }
    vc[c] = d;
    X.last[c] = d;
    for (int r = 0; r < nr; r++)
        reverse_race(races[r], d, c, vc);

    /* sleep set of the next state: what slept or was explored here, and is
     * independent of the step just taken */
    uint32_t sleep = 0;
    if (X.spec.reduction && !X.spec.stateful)
        sleep = (n->sleep | (n->done & ~(1u << c))) & ~(1u << c);
    for (uint32_t s = sleep; s; s &= s - 1) {
        int p = __builtin_ctz(s);
        fr_actor_view pv;
        fr_sched_view(p, &pv);
        fp t;
        if (pv.status == FR_VIEW_DONE) {
            sleep &= ~(1u << p);
            continue;
        }
        footprint(&t, p, pv.pending_op, pv.pending_obj, pv.pending_size, pv.op_index,
                  pv.pending_writes, 1, &pv, pv.owns_cpu, 0);
        if (dependent(&n->f, &t))
            sleep &= ~(1u << p);
    }
    X.next_sleep = sleep;
}

/* Linear extensions of the execution's happens-before order: the number of
 * schedules equivalent to it. */
static double count_linearizations(int n)
{
    int na = X.na - 1; /* the settle actor runs after everyone: it adds no choice */
    int len[MAXA] = {0}, pos[MAXA];
    static int *steps_of, *local, *need;
    static int cap;
    if (n > cap) {
        int c2 = n * 2;
        int *a = realloc(steps_of, sizeof(int) * (size_t)c2);
        int *b = realloc(local, sizeof(int) * (size_t)c2);
        int *e = realloc(need, sizeof(int) * (size_t)c2 * MAXA);
        if (a)
            steps_of = a;
        if (b)
            local = b;
        if (e)
            need = e;
        if (!a || !b || !e)
            return -1;
        cap = c2;
    }
    /* a burst's forced steps run glued to its first one: one unit with it */
    for (int i = 0; i < n; i++) {
        int a = X.nodes[i].chosen;
        if (a < na)
            local[i] = (X.nodes[i].f.cat & C_FORCED) ? len[a] - 1 : len[a]++;
    }
    double states = 1;
    for (int a = 0; a < na; a++)
        states *= len[a] + 1;
    if (states > COUNT_CAP)
        return -1;
    int total = (int)states;
    /* steps_of: per actor, its steps in order, packed */
    int base[MAXA], stride[MAXA];
    int off = 0, s = 1;
    for (int a = 0; a < na; a++) {
        base[a] = off;
        off += len[a];
        stride[a] = s;
        s *= len[a] + 1;
        pos[a] = 0;
    }
    for (int i = 0; i < n; i++) {
        int a = X.nodes[i].chosen;
        if (a >= na)
            continue;
        const int *vc = &X.vc[(size_t)i * MAXA];
        int glued = (X.nodes[i].f.cat & C_FORCED) != 0; /* never an actor's first step */
        int u = glued ? steps_of[base[a] + local[i]] : i;
        if (!glued) {
            steps_of[base[a] + local[i]] = i;
            for (int b = 0; b < na; b++)
                need[(size_t)u * MAXA + b] = 0;
        }
        for (int b = 0; b < na; b++) {
            int nb = vc[b] >= 0 && b != a ? local[vc[b]] + 1 : 0;
            if (nb > need[(size_t)u * MAXA + b])
                need[(size_t)u * MAXA + b] = nb;
        }
    }
    if (total > X.count_f_cap) {
        double *f = realloc(X.count_f, sizeof(double) * (size_t)total);
        int *q = realloc(X.count_q, sizeof(int) * (size_t)total);
        if (f)
            X.count_f = f;
        if (q)
            X.count_q = q;
        if (!f || !q)
            return -1;
        X.count_f_cap = total;
        memset(X.count_f, 0, sizeof(double) * (size_t)total);
    }
    /* breadth-first over the reachable progress vectors, level by level (every
     * successor of a level-L vector is on level L+1): f[v] = schedules reaching v */
    double *f = X.count_f;
    int *q = X.count_q;
    int head = 0, tail = 0, level_end;
    f[0] = 1;
    q[tail++] = 0;
    double result = 0;
    while (head < tail) {
        level_end = tail;
        for (; head < level_end; head++) {
            int idx = q[head];
            int rest = idx;
            for (int a = na - 1; a >= 0; a--) {
                pos[a] = rest / stride[a];
                rest -= pos[a] * stride[a];
            }
            double here = f[idx];
            if (idx == total - 1)
                result = here;
            for (int b = 0; b < na; b++) {
                if (pos[b] >= len[b])
                    continue;
                const int *nd = &need[(size_t)steps_of[base[b] + pos[b]] * MAXA];
                int ok = 1;
                for (int a = 0; a < na && ok; a++)
                    ok = pos[a] >= nd[a];
                if (!ok)
                    continue;
                int next = idx + stride[b];
                if (f[next] == 0)
                    q[tail++] = next;
                f[next] += here;
            }
        }
    }
    for (int i = 0; i < tail; i++) /* leave the array zeroed for the next count */
        f[q[i]] = 0;
    return result;
}

static int backtrack(void)
{
    for (int d = X.len - 1; d >= X.floor; d--) {
        node *n = &X.nodes[d];
        uint32_t cand = n->backtrack & ~n->done & ~n->sleep & n->enabled;
        while (cand) {
            int p = __builtin_ctz(cand);
            cand &= cand - 1;
            n->done |= 1u << p;
            if (X.spec.preemption_bound >= 0 &&
                n->preempt + is_preemption(d, p) > X.spec.preemption_bound) {
                X.st.bound_pruned++;
                continue;
            }
            if (sr())
                sr_finish(d + 1);
            n->chosen = p;
            X.len = d + 1;
            X.target = d;
            return 1;
        }
    }
    return 0;
}

static double coverage(void)
{
    if (X.st.complete)
        return 1.0;
    double cov = 0, w = 1;
    for (int d = X.floor; d < X.len; d++) {
        const node *n = &X.nodes[d];
        uint32_t all = (n->backtrack | n->done) & n->enabled & ~n->sleep;
        int total = __builtin_popcount(all);
        if (total <= 1)
            continue;
        int before = __builtin_popcount(n->done & all) - 1;
        cov += w * before / total;
        w /= total;
    }
    return cov;
}

int fr_dfs_start(const FR_SCENARIO_SPEC *scenario, const FR_RUN_SPEC *run, const FR_DFS_SPEC *dfs)
{
    X.sc = scenario;
    X.run = *run;
    X.run.strategy = FR_STRAT_DFS;
    X.run.n_segments = 0;
    X.run.n_order = 0;
    X.spec = *dfs;
    X.spec.prefix = NULL;
    free(X.prefix);
    X.prefix = NULL;
    if (dfs->n_prefix > 0) {
        X.prefix = malloc(sizeof(int) * (size_t)dfs->n_prefix);
        if (!X.prefix)
            return FR_ERR_RESOURCES;
        memcpy(X.prefix, dfs->prefix, sizeof(int) * (size_t)dfs->n_prefix);
    }
    X.na = scenario->n_actors + 1;
    if (X.na > MAXA)
        return FR_ERR_SPEC;
    X.floor = dfs->n_prefix > 0 ? dfs->n_prefix : 0;
    X.len = 0;
    X.target = 0;
    memset(&X.st, 0, sizeof X.st);
    X.st.interleavings_exact = 1;
    for (int k = 0; k < 16; k++) {
        free(X.wit[k]);
        X.wit[k] = NULL;
        X.wit_len[k] = -1;
    }
    X.n_shards = 0; /* rows are split_depth + 1 long: start a fresh buffer */
    free(X.shards);
    free(X.shard_sleep);
    X.shards = NULL;
    X.shard_sleep = NULL;
    X.shard_cap = 0;
    X.restarts = 0;
    free(X.spin_op);
    X.spin_op = calloc((size_t)scenario->n_ops + 1, 1);
    if (!X.spin_op)
        return FR_ERR_RESOURCES;
    for (int i = 0; i < dfs->n_spin_ops && i <= scenario->n_ops; i++)
        X.spin_op[i] = dfs->spin_ops[i] != 0;
    X.spec.spin_ops = NULL;
    X.cycle = 0;
    if (X.spec.stateful) { /* a visited set (stateful.c), with or without reduction */
        X.spec.preemption_bound = -1;
        fr_stateful_start(scenario->n_ops);
    }
    X.started = 1;
    return grow(256) ? FR_OK : FR_ERR_RESOURCES;
}

static void keep_witness(int n, uint32_t kinds)
{
    int pre = n > 0 ? X.nodes[n - 1].preempt + is_preemption(n - 1, X.nodes[n - 1].chosen) : 0;
    for (int k = 1; k < 16; k++) {
        if (!(kinds >> k & 1))
            continue;
        if (X.wit_len[k] >= 0 &&
            (X.wit_pre[k] < pre || (X.wit_pre[k] == pre && X.wit_len[k] <= n)))
            continue;
        int *w = realloc(X.wit[k], sizeof(int) * (size_t)(n ? n : 1));
        if (!w)
            continue;
        for (int i = 0; i < n; i++)
            w[i] = X.nodes[i].chosen;
        X.wit[k] = w;
        X.wit_len[k] = n;
        X.wit_pre[k] = pre;
    }
}

int fr_dfs_run(int64_t max_executions, double max_seconds, FR_DFS_STATUS *out)
{
    if (!X.started)
        return FR_ERR_SPEC;
    double t0 = now_s();
    int64_t ran = 0;
    int rc = FR_OK;
    fr_stateful_running(X.spec.stateful);
    while (!X.st.complete && !X.st.stopped) {
        if (max_executions > 0 && ran >= max_executions)
            break;
        if (max_seconds > 0 && (ran & 15) == 0 && ran && now_s() - t0 > max_seconds)
            break;
        X.cut = 0;
        X.next_sleep = 0;
        X.restart = 0;
        for (int a = 0; a < MAXA; a++)
            X.last[a] = -1;
        if (X.spec.stateful) {
            fr_sched_clear_stacks(X.sc->n_actors);
            fr_stateful_execution();
        }
        rc = fr_engine_execute(X.sc, &X.run, 0);
        if (rc != FR_OK)
            break;
        ran++;
        int n = fr_steps();
        X.st.executions++;
        X.st.steps += n;
        if (n > X.st.max_depth)
            X.st.max_depth = n;
        if (X.cut == 1)
            X.st.sleep_blocked++;
        if (X.cut == 4)
            X.st.revisits++;
        if (n >= (X.run.max_steps > 0 ? X.run.max_steps : 100000))
            X.st.step_bound_hit++;
        if (!X.cut) {
            X.st.maximal++;
            if (X.spec.count_interleavings && X.st.interleavings_exact) {
                double c = count_linearizations(n);
                if (c < 0)
                    X.st.interleavings_exact = 0;
                else
                    X.st.interleavings += c;
            }
        }
        /* (a stateful cut: the visited state's summary holds the pending steps too) */
        if (X.spec.reduction && X.spec.split_depth <= 0 && !(sr() && X.cut == 4))
            for (int p = 0; p < X.na; p++) {
                fr_actor_view pv;
                fr_sched_view(p, &pv);
                if (pv.status != FR_VIEW_DONE)
                    pending_races(p, n);
            }
        if (sr() && !X.restart)
            sr_end(n);
        if (X.cycle && X.spec.reduction) { /* not covered with reduction: search again without */
            X.spec.reduction = 0;
            X.restart = 1;
        }
        uint32_t kinds = fr_violation_kinds();
        if (kinds) {
            X.st.violating++;
            for (int k = 1; k < 16; k++)
                if (kinds >> k & 1)
                    X.st.by_kind[k]++;
            keep_witness(n, kinds);
            if (kinds & X.spec.stop_kinds)
                X.st.stopped = 1;
        }
        if (X.restart && X.spec.stateful) {
            /* the fingerprint grew (a variant's object, or the race detector's state):
             * the states told apart so far may be one state apart now; search again */
            X.restarts++;
            X.len = 0;
            X.target = 0;
            X.spec.prefix_sleep = 0;
            X.st.maximal = 0;
            fr_stateful_reset();
            continue;
        }
        if (X.restart && X.spec.reduction && X.spec.split_depth <= 0) {
            /* a new spinning operation: its beginnings read the world from now on,
             * which earlier executions did not know; search again */
            X.restarts++;
            X.len = 0;
            X.target = 0;
            X.spec.prefix_sleep = 0;
            X.st.interleavings = 0;
            X.st.interleavings_exact = 1;
            X.st.maximal = 0;
            continue;
        }
        if (!backtrack())
            X.st.complete = 1;
    }
    fr_stateful_running(0);
    if (X.spec.stateful) {
        X.st.states = fr_stateful_states();
        X.st.visited_bytes = fr_stateful_bytes();
    }
    X.st.coverage = coverage();
    X.st.shards = X.n_shards;
    X.st.restarts = X.restarts;
    X.st.reduced = X.spec.reduction;
    if (!X.spec.count_interleavings)
        X.st.interleavings_exact = 0;
    *out = X.st;
    return rc;
}

int fr_dfs_witness(int kind, int *actors, int cap, int *preemptions)
{
    if (kind < 1 || kind > 15 || X.wit_len[kind] < 0)
        return -1;
    int n = X.wit_len[kind];
    for (int i = 0; i < n && i < cap; i++)
        actors[i] = X.wit[kind][i];
    if (preemptions)
        *preemptions = X.wit_pre[kind];
    return n;
}

int fr_dfs_spin_ops(unsigned char *out, int cap)
{
    int n = X.sc ? X.sc->n_ops + 1 : 0;
    for (int i = 0; i < n && i < cap; i++)
        out[i] = X.spin_op[i];
    return n;
}

int fr_dfs_shard(int index, int *actors, int cap, uint32_t *sleep)
{
    if (index < 0 || index >= X.n_shards)
        return -1;
    const int *row = &X.shards[(size_t)index * (size_t)(X.spec.split_depth + 1)];
    for (int i = 0; i < row[0] && i < cap; i++)
        actors[i] = row[1 + i];
    if (sleep)
        *sleep = X.shard_sleep[index];
    return row[0];
}
