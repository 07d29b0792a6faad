/*
 * footprint.c - what a step touches (its footprint), and when two steps of different
 * actors are dependent or could be enabled together (explore.c: "What dependent means").
 */
#define _GNU_SOURCE
#include "fr_explore.h"

#include <stdlib.h>
#include <string.h>

/* wrote: the step changed memory (executed), or would in the current state (pending) */
static void footprint_core(fp *f, int op, const volatile void *obj, int wrote)
{
    f->cat = 0;
    f->key = 0;
    f->block = -1;
    f->list = -1;
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
void footprint(fp *f, int actor, int op, const volatile void *obj, int size, int op_index,
                      int wrote, int pending, const fr_actor_view *v, int owns, int forced)
{
    footprint_core(f, op, obj, wrote);
    f->blocks = f->block >= 0 ? 1ULL << (f->block & 63) : 0;
    f->size = f->key > KEY_POOL && size > 0 ? size : 1; /* the lists and the pool: one byte */
    f->actor = (short)actor;
    f->cpu = (short)v->cpu;
    f->owns = (unsigned char)owns;
    if (pending ? (f->cat & C_WRITE) != 0 : wrote)
        f->cat |= C_WROTE;
    if (forced)
        f->cat |= C_FORCED;
    f->insert = pending && op == FR_SP_LIST_INSERT; /* (one that ran: its entry is in blocks) */
    if (f->key == KEY_LISTS) { /* the pending operation's list, or (set by the caller) the step's */
        f->list = pending ? v->pending_list : -1;
        int b = obj ? fr_pool_block_index(obj) : -1; /* an entry it removes */
        if (b >= 0)
            f->blocks |= 1ULL << (b & 63);
    }
    /* a free of a block linked into a list (a finding) touches its neighbours' links: it
     * conflicts with every list operation; one of an unlinked block only with those that
     * touch it (the footprint's blocks) and with insertions (whose entry a pending
     * footprint does not know) */
    if ((f->cat & C_FREE) && f->block >= 0 && fr_pool_block_linked(f->block))
        f->cat |= C_LINKED;
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
     * lock it took is not yet held, and one it released still was (unless the step was
     * a lock finding: a double acquire held the lock already, a release of a lock the
     * CPU did not hold released nothing) */
    f->nheld = 0;
    for (int h = 0; h < v->n_held && f->nheld < FP_HELD; h++)
        if (pending || op != FR_SP_LOCK || v->held[h] != obj || v->stuck)
            f->held[f->nheld++] = (uintptr_t)v->held[h];
    if (!pending && op == FR_SP_UNLOCK && obj && !v->stuck && f->nheld < FP_HELD)
        f->held[f->nheld++] = (uintptr_t)obj;
}

void pending_fp(int actor, fp *f)
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

int dependent(const fp *a, const fp *b)
{
    if (a->cpu == b->cpu)
        return 1;
    if (((a->cat & C_WORLD) && (b->cat & C_WROTE)) || ((b->cat & C_WORLD) && (a->cat & C_WROTE)))
        return 1;
    if (waits_on(a, b) || waits_on(b, a))
        return 1;
    if (a->block >= 0 && a->block == b->block && ((a->cat | b->cat) & C_FREE))
        return 1;
    /* a free and a step that touched its block through the shim or the core (which
     * reads a flow under a table lock the free does not take: the move's check) */
    if (((a->cat & C_FREE) && a->block >= 0 && (b->blocks >> (a->block & 63) & 1)) ||
        ((b->cat & C_FREE) && b->block >= 0 && (a->blocks >> (b->block & 63) & 1)))
        return 1;
    /* a list operation reads and writes the links of its entry and of the entry's
     * neighbours, whichever flows they are: a free conflicts with every one */
    if (((a->cat & C_FREE) && b->key == KEY_LISTS && ((a->cat & C_LINKED) || b->insert)) ||
        ((b->cat & C_FREE) && a->key == KEY_LISTS && ((b->cat & C_LINKED) || a->insert)))
        return 1;
    /* two list operations: the same list (or one nobody could name); the lists' heads
     * and links are apart, an entry is in one list at a time */
    if (a->key == KEY_LISTS && b->key == KEY_LISTS)
        return (a->list < 0 || b->list < 0 || a->list == b->list) && ((a->cat | b->cat) & C_WRITE);
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
int coenabled(const fp *a, const fp *b)
{
    if (a->cpu == b->cpu && (a->owns || b->owns))
        return 0;
    if (a->key == b->key && (a->cat & (C_LOCK | C_UNLOCK)) && (b->cat & (C_LOCK | C_UNLOCK)) &&
        ((a->cat ^ b->cat) & C_UNLOCK))
        return 0;
    return !lock_conflict(a, b) && !lock_conflict(b, a);
}

