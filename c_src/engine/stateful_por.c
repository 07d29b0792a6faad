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

/* a list operation's list (-1: any list, as a free of a linked block) */
static void touch_list(uint64_t m[4], int list)
{
    if (list >= 0 && list < FR_MAX_GLOBALS) {
        touch_word(m, 0x1157000000000000ULL + (uint64_t)list);
        return;
    }
    for (int l = 0; l < FR_MAX_GLOBALS; l++)
        touch_word(m, 0x1157000000000000ULL + (uint64_t)l);
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
    if (f->nheld > 0) { /* the slot of the (first two) locks it holds: ordered with a step
                           that holds either */
        uintptr_t l1 = f->held[0], l2 = f->nheld > 1 ? f->held[1] : 0;
        if (l2 && l2 < l1) {
            uintptr_t x = l1;
            l1 = l2;
            l2 = x;
        }
        uint32_t k = 0;
        while (k < t->nlocks && (t->lock[k] != l1 || t->lock2[k] != l2))
            k++;
        if (k == t->nlocks && k < FR_TOUCH_LOCKS) {
            t->lock[k] = l1;
            t->lock2[k] = l2;
            t->nlocks++;
        }
        if (k < t->nlocks) {
            r = t->lr[k];
            w = t->lw[k];
        }
    }
    uint64_t *m = (f->cat & (C_WRITE | C_WROTE)) ? w : r;
    if (f->key == KEY_LISTS)
        touch_list(m, f->list);
    else if (f->key == KEY_POOL)
        touch_word(m, f->key);
    else if (f->key)
        touch_range(m, f->key, f->size);
    /* a free conflicts with any access to its block, and the lists (blocks by index % 64,
     * as the footprint keeps them) */
    if (f->block >= 0 && (f->cat & C_FREE))
        touch_word(w, 0xB10C000000000000ULL + (uint64_t)(f->block & 63));
    for (uint64_t m = f->blocks; m; m &= m - 1)
        touch_word(r, 0xB10C000000000000ULL + (uint64_t)__builtin_ctzll(m));
    if ((f->cat & C_FREE) && (f->cat & C_LINKED))
        touch_list(w, -1);
    if (f->cat & C_FREE) /* and every insertion (its entry may be the block) */
        touch_word(w, 0xF4EE000000000000ULL);
    if (f->insert)
        touch_word(r, 0xF4EE000000000000ULL);
    for (int k = 0; k < f->nwait; k++)
        touch_range(r, f->wait[k], f->wait_size[k]);
}

/* OR the masks in; nonzero if a bit was new */
static uint64_t masks_or(uint64_t *dr, uint64_t *dw, const uint64_t *sr_, const uint64_t *sw)
{
    uint64_t added = 0;
    for (int k = 0; k < 4; k++) {
        added |= (sr_[k] & ~dr[k]) | (sw[k] & ~dw[k]);
        dr[k] |= sr_[k];
        dw[k] |= sw[k];
    }
    return added;
}

/* dst |= src; nonzero if dst changed */
static int touch_or(fr_touch *dst, const fr_touch *src)
{
    uint64_t added = masks_or(dst->r, dst->w, src->r, src->w);
    added |= (src->cpus & ~dst->cpus) | (src->flags & ~dst->flags);
    dst->cpus |= src->cpus;
    dst->flags |= src->flags;
    for (uint32_t j = 0; j < src->nlocks; j++) {
        uint32_t k = 0;
        while (k < dst->nlocks && (dst->lock[k] != src->lock[j] || dst->lock2[k] != src->lock2[j]))
            k++;
        if (k == dst->nlocks && k < FR_TOUCH_LOCKS) {
            dst->lock[k] = src->lock[j];
            dst->lock2[k] = src->lock2[j];
            dst->nlocks++;
            added = 1;
        }
        if (k < dst->nlocks)
            added |= masks_or(dst->lr[k], dst->lw[k], src->lr[j], src->lw[j]);
        else /* no room: as if taken without the lock */
            added |= masks_or(dst->r, dst->w, src->lr[j], src->lw[j]);
    }
    return added != 0;
}

/* (x: words of e left out) */
static int masks_dep(const fr_touch *e, const uint64_t *r, const uint64_t *w, const uint64_t *x)
{
    for (int k = 0; k < 4; k++)
        if ((((e->w[k] | e->lw[0][k]) & (r[k] | w[k])) | ((e->r[k] | e->lr[0][k]) & w[k])) &
            ~x[k])
            return 1;
    return 0;
}

/* May the step g (touching e, but for the words in x) depend on, and be co-enabled
 * with, one of the steps summarised in t? A summarised step that holds a spin lock g
 * holds is ordered with it. */
static int touch_dep(const fp *g, const fr_touch *e, const fr_touch *t, const uint64_t *x)
{
    if (e->cpus & t->cpus)
        return 1;
    if (((e->flags & T_WORLD) && (t->flags & T_WROTE)) ||
        ((t->flags & T_WORLD) && (e->flags & T_WROTE)))
        return 1;
    if (masks_dep(e, t->r, t->w, x))
        return 1;
    for (uint32_t k = 0; k < t->nlocks; k++) {
        int held = 0;
        for (int h = 0; h < g->nheld && !held; h++)
            held = g->held[h] == t->lock[k] || (t->lock2[k] && g->held[h] == t->lock2[k]);
        if (!held && masks_dep(e, t->lr[k], t->lw[k], x))
            return 1;
    }
    return 0;
}

/* The execution that just ended (n steps) was cut at a finished state whose steps t
 * summarises: every step of the path that one of them may race with is reversed, the
 * actor run first there (or, if it could not run, everyone). */
static void sr_cut_races(const fr_touch *t, int n)
{
    static const uint64_t none[4];
    /* the actors with steps below (the settle poll begins after everyone's end), and the
     * clock of each one's last step on the path */
    uint32_t below = 0;
    const int *clock[MAXA];
    for (int p = 0; p < X.na - 1; p++) {
        if (t[p].cpus)
            below |= 1u << p;
        clock[p] = X.last[p] >= 0 ? &X.vc[(size_t)X.last[p] * MAXA] : NULL;
    }
    for (int i = n - 1; i >= X.floor && below; i--) {
        const node *g = &X.nodes[i];
        int ai = g->f.actor, r = g->point;
        if (r < X.floor)
            continue;
        node *m = &X.nodes[r];
        if (m->ample == AMPLE_LIST)
            continue; /* what could race with it is watched for exactly: an operation
                         on its list without the lock (the lockset), a free of a block
                         linked into a list (sr_list_ok); a summary's free of a block it
                         touched may well come after that block left its list */
        uint32_t todo = below & ~(1u << ai);
        if (!m->ample) { /* nothing to add there for most (the usual case) */
            todo &= ~(m->enabled & m->backtrack);
            if (!(m->enabled & ~m->backtrack))
                todo &= m->enabled;
        }
        for (; todo; todo &= todo - 1) {
            int p = __builtin_ctz(todo);
            if (clock[p] && clock[p][ai] >= i)
                continue; /* it happens before p's steps below */
            uint32_t add = (m->enabled >> p & 1) ? 1u << p : m->enabled;
            if (!(add & ~m->backtrack) && !m->ample)
                continue;
            if (m->ample == AMPLE_RELEASE) {
                /* a release is ordered with every acquisition of its lock, and nothing
                 * else touches the lock's word (sr_release_ok: it would have made the
                 * search start over): the word's bits are not a race here */
                uint64_t word[4] = {0};
                range_bits(word, g->f.key, g->f.size, 0);
                if (!touch_dep(&g->f, &X.nt[i], &t[p], word))
                    continue;
            } else if (!touch_dep(&g->f, &X.nt[i], &t[p], none))
                continue; /* independent */
            if (m->ample) { /* no persistent set after all: search again without */
                sr_ample_broken(m->ample);
                X.restart = 1;
                continue;
            }
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
        for (int a = 0; a < X.na; a++)
            changed |= touch_or(&s[a], &acc[a]);
        if (!changed)
            break; /* the states above hold it already */
    }
}

void sr_end(int n)
{
    fr_touch tail[MAXA];
    memset(tail, 0, sizeof(fr_touch) * (size_t)X.na);
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
#define RL_LISTS 16
#define RL_LOCKS 4

typedef struct rl_list {
    int id;                    /* fr_pool_list_of */
    uintptr_t lock[RL_LOCKS];  /* held at every operation on it seen so far */
    int nlocks;
    int relied;                /* an operation on it was taken at once */
} rl_list;

static struct {
    uint64_t touched[4], freed[4]; /* words touched otherwise, blocks freed */
    uint64_t taken[4], taken_blocks[4]; /* of the locks whose releases were taken */
    int world, any_taken;
    rl_list lists[RL_LISTS];
    int nlists;
    int lists_off;   /* an operation on a list no walk could name */
    int free_linked; /* a block was freed while linked into a list */
    int any_list;    /* a list operation was taken at once */
    uint32_t off;    /* AMPLE_* kinds given up: a race reached one taken at once */
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
    for (int i = 0; i < RL.nlists; i++)
        RL.lists[i].relied = 0;
    RL.any_list = 0;
}

static int block_bits(uint64_t m[4], int block, int test)
{
    int bit = word_bit(0xB10C000000000000ULL + (uint64_t)block);
    int had = (int)(m[bit >> 6] >> (bit & 63) & 1);
    if (!test)
        m[bit >> 6] |= 1ULL << (bit & 63);
    return had;
}

static int lock_clean(uintptr_t lock)
{
    int b = fr_pool_block_index((const volatile void *)lock);
    return !range_bits(RL.touched, lock, (int)sizeof(uintptr_t), 1) &&
           (b < 0 || !block_bits(RL.freed, b, 1));
}

/* From now on the search relies on the lock being one (as for a release taken at once:
 * the first step that touches its word otherwise, or frees its block, starts it over). */
static void rely_on_lock(uintptr_t lock)
{
    int b = fr_pool_block_index((const volatile void *)lock);
    range_bits(RL.taken, lock, (int)sizeof(uintptr_t), 0);
    if (b >= 0)
        block_bits(RL.taken_blocks, b, 0);
    RL.any_taken = 1;
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
    if (rel.key <= KEY_POOL || !lock_clean(rel.key))
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
    rely_on_lock(rel.key);
    return 1;
}

/* ---- list operations taken at once (explore.c: ample_step) ---------------------------
 *
 * An operation on a list (openFlows' buckets, closedFlows: fr_pool_list_of) by an actor
 * that holds a spin lock which every operation on that list seen in this search was
 * made under (Eraser's lockset) is independent of everything the others can do before
 * it: another operation on that list needs the lock; one on another list touches other
 * links; a free touches its own block, not linked (a free of a linked block is a finding,
 * freed_while_linked, and makes the search start over without these), unless it is the
 * block an insertion links (the insertion's entry is not known here: a pending free
 * keeps every insertion). As for releases: nothing may read the world, the lock's word
 * may be touched only as a lock, and the first operation seen without a lock that was
 * relied on, or on a list no walk could name, makes the search start over (the locksets
 * stay, so the next search relies on what holds). */
static rl_list *list_entry(int id)
{
    for (int i = 0; i < RL.nlists; i++)
        if (RL.lists[i].id == id)
            return &RL.lists[i];
    return NULL;
}

int sr_list_ok(int a, const fr_actor_view *v)
{
    if (RL.world || RL.lists_off || RL.free_linked || v->pending_list < 0)
        return 0;
    rl_list *l = list_entry(v->pending_list);
    if (!l)
        return 0; /* no lockset yet */
    uintptr_t guard = 0;
    for (int k = 0; k < l->nlocks && !guard; k++)
        for (int h = 0; h < v->n_held && !guard; h++)
            if ((uintptr_t)v->held[h] == l->lock[k] && lock_clean(l->lock[k]))
                guard = l->lock[k];
    if (!guard)
        return 0;
    int insert = v->pending_op == FR_SP_LIST_INSERT;
    for (int p = 0; p < X.na - 1; p++) { /* what the others would do now */
        if (p == a)
            continue;
        fr_actor_view pv;
        fr_sched_view(p, &pv);
        if (pv.status == FR_VIEW_DONE)
            continue;
        fp q;
        pending_fp(p, &q);
        if ((q.cat & C_WORLD) || q.cpu == v->cpu)
            return 0;
        if (q.key == KEY_LISTS && (pv.pending_list < 0 || pv.pending_list == v->pending_list))
            return 0;
        if ((q.cat & C_FREE) && (insert || q.block < 0 || fr_pool_block_linked(q.block)))
            return 0;
    }
    l->relied = 1;
    RL.any_list = 1;
    rely_on_lock(guard);
    return 1;
}

int sr_ample_on(int kind)
{
    return !(RL.off >> kind & 1);
}

void sr_ample_broken(int kind)
{
    RL.off |= 1u << kind;
}

/* A list operation (list: its list, -1 if none could be named) made holding f->held. */
static int note_list(const fp *f, int list)
{
    if (list < 0) {
        RL.lists_off = 1;
        return RL.any_list;
    }
    rl_list *l = list_entry(list);
    if (!l) {
        if (RL.nlists == RL_LISTS) {
            RL.lists_off = 1;
            return RL.any_list;
        }
        l = &RL.lists[RL.nlists++];
        l->id = list;
        l->relied = 0;
        l->nlocks = 0;
        for (int h = 0; h < f->nheld && l->nlocks < RL_LOCKS; h++)
            l->lock[l->nlocks++] = f->held[h];
        return 0;
    }
    int kept = 0, lost = 0;
    for (int k = 0; k < l->nlocks; k++) {
        int held = 0;
        for (int h = 0; h < f->nheld && !held; h++)
            held = f->held[h] == l->lock[k];
        if (held)
            l->lock[kept++] = l->lock[k];
        else
            lost = 1;
    }
    l->nlocks = kept;
    return lost && l->relied;
}

int sr_note_step(const fp *f, int list)
{
    int again = 0;
    if (f->key == KEY_LISTS)
        again |= note_list(f, list);
    if ((f->cat & C_WORLD) && !RL.world) {
        RL.world = 1;
        again |= RL.any_taken | RL.any_list;
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
        if (fr_pool_block_linked(f->block) && !RL.free_linked) {
            RL.free_linked = 1;
            again |= RL.any_list;
        }
    }
    return again;
}
