/*
 * spin.c - spin loops in a controlled execution: which words an iteration read,
 * whether another CPU wrote one since (its wait ends), and bursts (a spinner's
 * iterations alone, back to back), as described below.
 */
#define _GNU_SOURCE
#include "fr_internal.h"

#include <string.h>

/* ---- spins -----------------------------------------------------------------------------
 * A spin iteration is the steps between two YieldProcessor/KeStallExecutionProcessor
 * calls (the first one begins with the operation). Run again on the same memory it
 * does the same thing, so after a yield the spinner waits until another actor
 * writes a word the iteration accessed, after the access ("dirty"): only then can
 * its next iteration see something new. Waiting alone would let a bounded retry
 * give up only when nobody else can run, while on a real CPU a slow holder is
 * enough; so a waiting spinner may instead run a burst: its next iterations alone,
 * back to back, until it leaves the loop (the end of its operation; a step that does
 * not repeat the previous whole iteration or, with none to repeat yet, a step that
 * would write) or has spun FR_SPIN_LIMIT times since a write last ended its wait.
 * A burst that runs out was an unbounded spin: if others could run, it changed
 * nothing and the spinner waits for a write from then on; if nobody could, it is a
 * livelock. An iteration that touches the lists or more than
 * FR_SPIN_KEYS words is "wide": any write by another actor since it began counts.
 * The explorer (explore.c) reads the same keys: the step that ends a wait depends on
 * the writes to them, and a burst's later steps are forced. */
#define FR_SPIN_LIMIT 64

int is_spin_point(int op) { return op == FR_SP_YIELD || op == FR_SP_STALL; }

/* full: the iteration begins after a yield (the first one begins with the operation
 * and may hold steps before the loop) */
void iteration_begin(fr_actor *a, int full)
{
    a->seq_full = full;
    a->nkeys = 0;
    a->wide = 0;
    a->dirty = 0;
    a->seq_len = 0;
    a->scan_pos = g_writes;
    a->others_at_start = g_writes - a->writes;
}

static int overlap(const volatile void *a, int na, const volatile void *b, int nb)
{
    uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
    return x < y + (uintptr_t)nb && y < x + (uintptr_t)na;
}

/* The actor's step (op on obj, size bytes) just ran: remember what the iteration touched. */
void note_access(fr_actor *a, int op, const volatile void *obj, int size)
{
    if (a->seq_len < FR_SPIN_SEQ) {
        a->seq_op[a->seq_len] = op;
        a->seq_obj[a->seq_len] = obj;
    }
    a->seq_len++;
    if (!obj || op == FR_SP_BEGIN)
        return;
    if (op == FR_SP_LIST_READ || op == FR_SP_LIST_INSERT || op == FR_SP_LIST_REMOVE) {
        a->wide = 1;
        return;
    }
    for (int k = 0; k < a->nkeys; k++)
        if (a->keys[k] == obj) {
            a->key_stamp[k] = g_writes;
            if (size > a->key_size[k])
                a->key_size[k] = size;
            return;
        }
    if (a->nkeys == FR_SPIN_KEYS) {
        a->wide = 1;
        return;
    }
    a->keys[a->nkeys] = obj;
    a->key_size[a->nkeys] = size > 0 ? size : 1;
    a->key_stamp[a->nkeys++] = g_writes;
}

/* Has another actor written one of the iteration's words since the access? */
void spin_scan(fr_actor *a)
{
    if (a->dirty)
        return;
    if (a->wide) {
        a->dirty = g_writes - a->writes != a->others_at_start;
        return;
    }
    if (g_writes - a->scan_pos > FR_WLOG) { /* lost track: let it look again */
        a->dirty = 1;
        return;
    }
    for (uint64_t w = a->scan_pos + 1; w <= g_writes; w++) {
        unsigned s = (unsigned)(w & (FR_WLOG - 1));
        if (g_wlog_actor[s] == a->index)
            continue;
        for (int k = 0; k < a->nkeys; k++)
            if (overlap(g_wlog[s], g_wlog_size[s], a->keys[k], a->key_size[k]) &&
                w > a->key_stamp[k]) {
                a->dirty = 1;
                return;
            }
    }
    a->scan_pos = g_writes;
}

/* The actor's yield just ran: its iteration is over. */
void spin_yield(fr_actor *a)
{
    spin_scan(a);
    int n = a->seq_len < FR_SPIN_SEQ ? a->seq_len : FR_SPIN_SEQ;
    memcpy(a->prev_op, a->seq_op, sizeof(int) * (size_t)n);
    memcpy((void *)a->prev_obj, (const void *)a->seq_obj, sizeof(a->prev_obj[0]) * (size_t)n);
    a->prev_len = a->seq_full ? a->seq_len : 0;
    if (g_burst == a->index) {
        if (++g_burst_yields < FR_SPIN_LIMIT && ++a->fruitless < FR_SPIN_LIMIT) {
            /* on alone: the next iteration */
            iteration_begin(a, 1);
            return;
        }
        g_burst = -1; /* an unbounded spin: it changed nothing */
        a->burst_ok = 0;
        a->hopeless = g_burst_alone;
        a->spin_wait = 1;
        a->prev_len = 0;
        return;
    }
    a->spin_wait = 1;
    /* bursts cut short (the loop's steps vary) count too: no endless chain of them */
    a->burst_ok = ++a->fruitless < FR_SPIN_LIMIT;
    a->hopeless = 0;
}

/* A waiting spinner was picked: it ends its wait, or (nothing changed) begins a burst. */
void spin_resume(fr_actor *a, uint32_t mask)
{
    int burst = !a->dirty;
    if (!burst)
        a->fruitless = 0;
    a->nwoke = a->wide ? -1 : a->nkeys;
    memcpy((void *)a->woke_keys, (const void *)a->keys, sizeof(a->keys[0]) * (size_t)a->nkeys);
    memcpy(a->woke_key_size, a->key_size, sizeof(int) * (size_t)a->nkeys);
    a->woke = burst ? 2 : 1;
    a->spin_wait = 0;
    iteration_begin(a, 1);
    if (burst) {
        g_burst = a->index;
        g_burst_alone = !(mask & ~(1u << a->index));
        g_burst_yields = 0;
    }
}

/* Does the bursting actor's next step still repeat its loop? */
void burst_follow(void)
{
    fr_actor *a = &g_actors[g_burst];
    int i = a->seq_len;
    if (a->status != A_READY || a->pending_op == FR_SP_BEGIN)
        g_burst = -1;
    else if (a->prev_len > 0) /* a whole iteration to repeat (its lock steps included) */
        g_burst = i >= a->prev_len || i >= FR_SPIN_SEQ || a->prev_op[i] != a->pending_op ||
                          a->prev_obj[i] != a->pending_obj ? -1 : g_burst;
    else if (pending_writes(a)) /* the first: it may hold steps before the loop */
        g_burst = -1;
}

/* Has another actor written key k of a's iteration since a's latest access to it? */
int spin_key_written(const fr_actor *a, int k)
{
    if (a->wide || g_writes - a->scan_pos > FR_WLOG)
        return 1;
    for (uint64_t w = a->scan_pos + 1; w <= g_writes; w++) {
        unsigned s = (unsigned)(w & (FR_WLOG - 1));
        if (g_wlog_actor[s] != a->index && w > a->key_stamp[k] &&
            overlap(g_wlog[s], g_wlog_size[s], a->keys[k], a->key_size[k]))
            return 1;
    }
    return 0;
}
