/*
 * stateful_por.c - the stateful search's reduction (FR_DFS_SPEC.stateful + reduction).
 *
 * A search that cuts an execution at a visited state skips the steps that would follow:
 * the races between them and the steps before the cut are not seen. So each finished
 * state keeps a summary, per actor, of what every step below it touched (explored from
 * there, through further cuts, and the steps still pending at the ends), and a cut
 * reverses, conservatively, every race the summary may hold (sr_cut_races): with the
 * rule of Flanagan and Godefroid, whose sets are persistent at every state, which is
 * what makes cutting at a state sound (Yang, Chen, Gopalakrishnan, Kirby, SPIN 2008).
 * Words are kept as bits of a 256-bit mask: a collision makes more steps dependent,
 * never fewer. A cut at a state still on the path (a cycle, which that combination does
 * not cover) makes the search start over without reduction.
 */
#define _GNU_SOURCE
#include "fr_explore.h"

#include <stdlib.h>
#include <string.h>

#define T_WORLD 1
#define T_WROTE 2

static int word_bit(uint64_t word);

static void touch_word(uint64_t m[4], uint64_t word)
{
    int b = word_bit(word);
    m[b >> 6] |= 1ULL << (b & 63);
}

static int word_bit(uint64_t word)
{
    /* (words of memory come as stable addresses: the same bits in every run) */
    return (int)((word * 0x9E3779B97F4A7C15ULL) >> 56);
}

/* Mark (or, with test, look for) the words of [key, key + size): 1 if one was marked. */
static int range_bits(uint64_t m[4], uintptr_t key, int size, int test)
{
    uintptr_t a = key >> 3, b = (key + (uintptr_t)(size > 0 ? size : 1) - 1) >> 3;
    if (b - a >= 32) {
        int any = (m[0] | m[1] | m[2] | m[3]) != 0;
        if (!test)
            for (int k = 0; k < 4; k++)
                m[k] = ~0ULL;
        return any;
    }
    int any = 0;
    for (uintptr_t w = a; w <= b; w++) {
        int bit = word_bit(fr_stable_address(w << 3) | 4); /* never a special key's (1, 2) */
        any |= (int)(m[bit >> 6] >> (bit & 63) & 1);
        if (!test)
            m[bit >> 6] |= 1ULL << (bit & 63);
    }
    return any;
}

static void touch_range(uint64_t m[4], uintptr_t key, int size)
{
    range_bits(m, key, size, 0);
}

/* Add what the step f touches to t: the over-approximation of dependent() below. A
 * step taken while holding a spin lock goes to that lock's slot (if there is room). */
void touch_add(fr_touch *t, const fp *f)
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
            if (m->ample)
                continue;
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

void sr_end(int n)
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

/* Nodes from depth d down leave the path: their states are finished (any stateful
 * search: a cut at a state not finished is a cycle), with their summaries when the
 * search reduces. */
void sr_finish(int d)
{
    for (int k = X.len - 1; k >= d && k >= X.floor; k--)
        if (X.nodes[k].sid >= 0)
            fr_stateful_finish(X.nodes[k].sid,
                               sr() ? fr_stateful_summary_intern(&X.sums[(size_t)k * MAXA], X.na)
                                    : 0);
}


/* ---- spin-lock releases taken at once (explore.c: ample_step) -------------------------
 *
 * A release of a lock L that its actor holds is independent of everything the others
 * can do before it, as long as nothing but acquisitions and releases of its holders
 * touches L's word (an acquisition of L waits for the release; a plain read, an
 * interlocked operation would not; a release by someone else is a finding and never
 * runs, points.c), nobody frees the
 * block L lives in, and no step reads the world (a wide spin, or the beginning of an
 * operation that spins wide). What the search has seen so far decides: words touched
 * otherwise, blocks freed, a step that reads the world. The first such step seen that
 * concerns a lock whose release was already taken at once makes the search start over
 * (its reduction then keeps that lock's releases, like any other step). The settle
 * poll's steps are left out: it begins after everyone, no release waits beside it.
 * Words and blocks are bits of 256-bit masks: a collision only takes fewer releases
 * at once. */
static struct {
    uint64_t touched[4], freed[4]; /* words touched otherwise, blocks freed */
    uint64_t taken[4], taken_blocks[4]; /* of the locks whose releases were taken */
    int world, any_taken;
} RL;

void sr_release_reset(int keep)
{
    if (!keep) {
        memset(&RL, 0, sizeof RL);
        return;
    }
    /* the search starts over: nothing is taken yet, what was seen stays */
    memset(RL.taken, 0, sizeof RL.taken);
    memset(RL.taken_blocks, 0, sizeof RL.taken_blocks);
    RL.any_taken = 0;
}

static int block_bits(uint64_t m[4], int block, int test)
{
    int bit = word_bit(0xB10C000000000000ULL + (uint64_t)block);
    int had = (int)(m[bit >> 6] >> (bit & 63) & 1);
    if (!test)
        m[bit >> 6] |= 1ULL << (bit & 63);
    return had;
}

int sr_release_ok(int a, const fr_actor_view *v)
{
    if (RL.world)
        return 0;
    int held = 0;
    for (int h = 0; h < v->n_held && !held; h++)
        held = v->held[h] == v->pending_obj;
    if (!held)
        return 0;
    fp rel;
    footprint(&rel, a, FR_SP_UNLOCK, v->pending_obj, v->pending_size, v->op_index, 1, 1, v,
              v->owns_cpu, 0);
    if (rel.key <= KEY_POOL || range_bits(RL.touched, rel.key, rel.size, 1) ||
        (rel.block >= 0 && block_bits(RL.freed, rel.block, 1)))
        return 0;
    if (*(const volatile uintptr_t *)v->pending_obj == 0)
        return 0; /* (released behind its holder's back: not ours to take at once) */
    for (int p = 0; p < X.na - 1; p++) { /* what the others would do now */
        if (p == a)
            continue;
        fr_actor_view pv;
        fr_sched_view(p, &pv);
        if (pv.status == FR_VIEW_DONE)
            continue;
        if (pv.pending_op == FR_SP_LOCK && pv.pending_obj == v->pending_obj && !pv.spin_wait)
            continue; /* waits for this release */
        fp q;
        pending_fp(p, &q);
        if (dependent(&rel, &q))
            return 0;
    }
    range_bits(RL.taken, rel.key, rel.size, 0);
    if (rel.block >= 0)
        block_bits(RL.taken_blocks, rel.block, 0);
    RL.any_taken = 1;
    return 1;
}

int sr_note_step(const fp *f)
{
    int again = 0;
    if ((f->cat & C_WORLD) && !RL.world) {
        RL.world = 1;
        again = RL.any_taken;
    }
    if (f->key > KEY_POOL && !(f->cat & (C_LOCK | C_UNLOCK))) {
        again |= range_bits(RL.taken, f->key, f->size, 1);
        range_bits(RL.touched, f->key, f->size, 0);
    }
    for (int k = 0; k < f->nwait; k++) {
        again |= range_bits(RL.taken, f->wait[k], f->wait_size[k], 1);
        range_bits(RL.touched, f->wait[k], f->wait_size[k], 0);
    }
    if ((f->cat & C_FREE) && f->block >= 0) {
        again |= block_bits(RL.taken_blocks, f->block, 1);
        block_bits(RL.freed, f->block, 0);
    }
    return again;
}
