/*
 * sched_view.c - what the explorer (explore.c, through fr_sched.h) sees of the
 * controlled loop at a scheduling point: each actor's view, whether its pending
 * operation would write, bursts, event steps; the hash of the whole state that
 * the state graph keys its nodes with; and the stateful search's fingerprint.
 */
#define _GNU_SOURCE
#include "fr_internal.h"

#include <string.h>

/* ---- what the explorer sees (fr_sched.h) ---------------------------------------------- */
int fr_sched_nactors(void) { return g_nactors; }

/* Would the actor's pending operation write, in the current state? (1 when unknown) */
int pending_writes(const fr_actor *a)
{
    switch (a->pending_op) {
    case FR_SP_READ:
    case FR_SP_PLAIN_READ:
    case FR_SP_VOLATILE_READ:
    case FR_SP_LIST_READ:
    case FR_SP_BEGIN:
    case FR_SP_YIELD:
    case FR_SP_STALL:
        return 0;
    default:
        break;
    }
    if (!a->arg_size || !a->pending_obj)
        return 1;
    int64_t cur = a->arg_size == 8 ? (int64_t)*(const volatile int64_t *)a->pending_obj
                                   : (int64_t)*(const volatile int32_t *)a->pending_obj;
    int64_t x = a->arg_a, y = a->arg_b;
    if (a->arg_size == 4) {
        x = (int32_t)x;
        y = (int32_t)y;
    }
    switch (a->pending_op) {
    case FR_SP_CAS:
        return cur == y && x != y; /* arg_a exchange, arg_b comparand */
    case FR_SP_XCHG:
    case FR_SP_WRITE:
        return cur != x;
    case FR_SP_ADD:
        return x != 0;
    case FR_SP_OR:
        return (cur | x) != cur;
    case FR_SP_AND:
        return (cur & x) != cur;
    default:
        return 1;
    }
}

void fr_sched_view(int i, fr_actor_view *out)
{
    const fr_actor *a = &g_actors[i];
    out->status = a->status;
    out->cpu = a->cpu;
    out->owns_cpu = g_cpu_owner[a->cpu] == i;
    out->pending_op = a->pending_op;
    out->pending_obj = a->pending_obj;
    out->pending_size = a->pending_size;
    out->pending_list = a->status == A_DONE ? -1 : a->pending_list;
    out->op_index = a->op_index;
    out->pending_writes = pending_writes(a);
    out->spin_wait = a->spin_wait;
    out->n_keys = a->spin_wait ? (a->wide ? -1 : a->nkeys) : 0;
    out->keys = a->keys;
    out->key_sizes = a->key_size;
    out->woke = a->woke;
    out->n_woke = a->woke ? a->nwoke : 0;
    out->woke_keys = a->woke_keys;
    out->n_held = a->n_held;
    out->stuck = a->stuck;
    out->held = a->held;
    out->woke_key_sizes = a->woke_key_size;
}

uint32_t fr_sched_burst_mask(void) { return g_burst_mask; }

int fr_sched_step_size(int step) { return step >= 0 && step < g_steps ? g_trace[step].size : 4; }

int fr_sched_step_list(int step) { return step >= 0 && step < g_steps ? g_trace[step].list : -1; }

uint64_t fr_sched_step_blocks(int step)
{
    return step >= 0 && step < g_steps ? g_trace[step].blocks : 0;
}

int fr_sched_event_step(int ev)
{
    return ev >= 0 && g_sc && ev <= g_sc->n_events ? g_event_step[ev] : -1;
}

void fr_sched_fail(int code, const char *text) { set_error(code, "%s", text); }

/* The state graph's node: the shared memory of the model (live pool blocks and the
 * registered globals, with pointers into them made position-independent, without
 * the flows' Timestamp, which is the step number), which events have ended, each
 * actor's position (operation, steps into it, what it does next, IRQL, spin and
 * lock state) and the kinds of violation seen so far. */
static uint64_t hmix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2);
    return h * 0xFF51AFD7ED558CCDULL;
}

static uint64_t norm_word(uint64_t w)
{
    const unsigned char *c = (const unsigned char *)(uintptr_t)w;
    if (c >= g_arena && c < g_arena + g_arena_used)
        return 0xA000000000000000ULL | (uint64_t)(c - g_arena);
    for (int g = 0; g < g_nglobals; g++)
        if ((const volatile char *)c >= g_globals[g].p &&
            (const volatile char *)c < g_globals[g].p + g_globals[g].size)
            return 0xB000000000000000ULL | ((uint64_t)g << 32) |
                   (uint64_t)((const volatile char *)c - g_globals[g].p);
    return w;
}

static uint64_t hash_bytes(uint64_t h, const volatile unsigned char *p, size_t n, long skip)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        if ((long)i == skip)
            continue;
        uint64_t w;
        memcpy(&w, (const void *)(p + i), 8);
        h = hmix(h, norm_word(w));
    }
    for (; i < n; i++)
        h = hmix(h, p[i]);
    return h;
}

/* steps: with each unfinished actor's steps in its current operation (the state graph
 * tells positions in an operation apart by them); without, what is left of a final
 * state once its history is (fr_end_hash) */
static uint64_t state_hash(int steps)
{
    int ts_offset = g_model ? g_model->unhashed_offset : -1;
    uint64_t h = 0x243F6A8885A308D3ULL;
    for (int b = 0; b < g_nblocks; b++) {
        const fr_block *blk = &g_blocks[b];
        h = hmix(h, (uint64_t)blk->state << 40 ^ (uint64_t)(uint32_t)blk->linked << 8 ^
                        (uint64_t)(blk->flow + 1));
        if (blk->state == B_LIVE)
            h = hash_bytes(h, g_arena + blk->off, blk->size,
                           blk->flow >= 0 && ts_offset >= 0 ? ts_offset : -1);
    }
    for (int g = 0; g < g_nglobals; g++)
        h = hash_bytes(h, (const volatile unsigned char *)g_globals[g].p, g_globals[g].size, -1);
    if (g_sc)
        for (int e = 0; e <= g_sc->n_events; e++)
            h = hmix(h, g_event_done[e]);
    for (int i = 0; i < g_nactors; i++) {
        const fr_actor *a = &g_actors[i];
        if (a->status == A_DONE) { /* how it got there (its last steps) is history */
            h = hmix(h, A_DONE);
            continue;
        }
        h = hmix(h, (uint64_t)a->status | (uint64_t)(a->op_index + 1) << 8 |
                        (uint64_t)(a->event + 1) << 24 | (uint64_t)a->pending_op << 48 |
                        (uint64_t)a->irql << 56 | (uint64_t)a->stuck << 60 |
                        (uint64_t)(a->spin_wait != 0) << 61 | (uint64_t)(a->dirty != 0) << 62 |
                        (uint64_t)(a->burst_ok && !a->hopeless) << 63);
        h = hmix(h, norm_word((uint64_t)(uintptr_t)a->pending_obj));
        h = hmix(h, (uint64_t)(steps ? a->op_steps : 0) | (uint64_t)a->n_held << 32);
    }
    return hmix(h, fr_violation_kinds());
}

uint64_t fr_state_hash(void) { return state_hash(1); }

/* A final state: how many steps a CPU that could not finish took in its operation is
 * history (two paths to the same blocked CPU, one through a branch the other skipped,
 * end in one state; the stateful search rightly merges them). */
uint64_t fr_end_hash(void) { return state_hash(0); }

/* The stateful search's fingerprint (stateful.c): everything of the execution
 * that determines its future, in two independent 64-bit lanes. Unlike fr_state_hash
 * (the state graph's picture) it holds each actor's local state exactly: its coroutine
 * stack from the saved stack pointer up (locals, spilled registers, return addresses:
 * C code is deterministic, so that and the memory fix what it does next), the spin
 * bookkeeping reduced to what decides the future (per key: has another actor written it
 * since the access), the burst, the lock-order edges seen (the inversion check reads
 * them), freed blocks' bytes too. History alone is left out: step numbers, write
 * counters, the flows' Timestamp (the step number), the trace and the records. */
static inline void fp2(uint64_t h[2], uint64_t v)
{
    h[0] = hmix(h[0], v);
    h[1] = (h[1] ^ v) * 0x9E3779B97F4A7C15ULL;
    h[1] ^= h[1] >> 29;
}

/* Two words at a time in four independent chains (the multiplies overlap), folded at
 * the end; a skipped word counts as 0. */
static void fp2_bytes(uint64_t h[2], const volatile unsigned char *p, size_t n, long skip)
{
    uint64_t a0 = h[0], a1 = h[0] ^ 0x452821E638D01377ULL;
    uint64_t b0 = h[1], b1 = h[1] ^ 0xBE5466CF34E90C6CULL;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        uint64_t w0, w1;
        memcpy(&w0, (const void *)(p + i), 8); /* addresses are the same in every execution */
        memcpy(&w1, (const void *)(p + i + 8), 8);
        if ((long)i == skip)
            w0 = 0;
        if ((long)i + 8 == skip)
            w1 = 0;
        a0 = hmix(a0, w0);
        a1 = hmix(a1, w1);
        b0 = (b0 ^ w0) * 0x9E3779B97F4A7C15ULL;
        b0 ^= b0 >> 29;
        b1 = (b1 ^ w1) * 0xC2B2AE3D27D4EB4FULL;
        b1 ^= b1 >> 31;
    }
    h[0] = hmix(a0, a1 ^ (uint64_t)n);
    h[1] = b0 ^ (b1 << 17 | b1 >> 47);
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, (const void *)(p + i), 8);
        fp2(h, (long)i == skip ? 0 : w);
    }
    for (; i < n; i++)
        fp2(h, p[i]);
}

static size_t g_fp_depth; /* the deepest live stack a fingerprint has read */

/* Each actor's live stack, hashed when a fingerprint last read it: a stack changes only
 * while its actor runs (fr_sched_stack_changed after each step), or when the engine
 * clears or restores it (fr_sched_stacks_changed), so the others' hashes are reused. */
static struct {
    int ok;
    uint64_t h[2];
} g_sh[FR_MAX_ACTORS + 1];

void fr_sched_stack_changed(int actor)
{
    if (actor >= 0 && actor <= FR_MAX_ACTORS)
        g_sh[actor].ok = 0;
}

void fr_sched_stacks_changed(void)
{
    for (int i = 0; i <= FR_MAX_ACTORS; i++)
        g_sh[i].ok = 0;
}

/* How deep below the deepest live stack a fingerprint read the calls between two
 * scheduling points are taken to go (the shim's, the race detector's; measured: a few
 * hundred bytes). Deeper slots left dirty only split states, never merge them; a
 * report, which goes deeper, clears 16 KiB below itself (points.c). */
#define FR_SCRUB_MARGIN 1024

/* Zero the part of every actor's stack that fingerprints read: a slot a frame leaves
 * uninitialised then holds the same (nothing) in every execution, not what an earlier
 * execution left there. */
size_t fr_sched_stack_depth(void)
{
    size_t want = g_fp_depth + FR_SCRUB_MARGIN;
    return want < FR_STACK_SIZE ? want : FR_STACK_SIZE;
}

void fr_sched_clear_stacks(int n_actors)
{
    size_t depth = fr_sched_stack_depth();
    int n = n_actors + 1 < FR_MAX_ACTORS + 1 ? n_actors + 1 : FR_MAX_ACTORS + 1; /* + settle */
    for (int i = 0; i < n; i++)
        if (g_actors[i].stack)
            memset(g_actors[i].stack + FR_STACK_SIZE - depth, 0, depth);
    fr_sched_stacks_changed();
}

/* The bytes below the running actor's frame that frames may have used: from here down
 * to the margin below the deepest live stack, at most asked. */
size_t fr_sched_scrub_size(size_t asked)
{
    if (!g_cur || !g_cur->stack)
        return asked;
    const unsigned char *here = (const unsigned char *)__builtin_frame_address(0);
    const unsigned char *top = g_cur->stack + FR_STACK_SIZE;
    if (here <= g_cur->stack || here > top)
        return asked; /* not on its stack */
    size_t now = (size_t)(top - here), want = g_fp_depth + FR_SCRUB_MARGIN;
    size_t n = want > now ? want - now : 0;
    return n < asked ? n : asked;
}

void fr_state_fingerprint(uint64_t h[2], const unsigned char *spins)
{
    int ts_offset = g_model ? g_model->unhashed_offset : -1;
    h[0] = 0x243F6A8885A308D3ULL;
    h[1] = 0x13198A2E03707344ULL;
    fp2(h, (uint64_t)g_nblocks);
    for (int b = 0; b < g_nblocks; b++) {
        const fr_block *blk = &g_blocks[b];
        fp2(h, (uint64_t)blk->state << 40 ^ (uint64_t)(uint32_t)blk->linked << 8 ^
                   (uint64_t)(blk->flow + 1) ^ (uint64_t)blk->size << 48);
        fp2_bytes(h, g_arena + blk->off, blk->size,
                  blk->flow >= 0 && ts_offset >= 0 ? ts_offset : -1);
    }
    for (int g = 0; g < g_nglobals; g++)
        fp2_bytes(h, (const volatile unsigned char *)g_globals[g].p, g_globals[g].size, -1);
    if (g_sc)
        for (int e = 0; e <= g_sc->n_events; e++)
            fp2(h, g_event_done[e]);
    fp2(h, lock_edges_digest());
    if (g_burst >= 0) /* (a burst's counts outlive it: history) */
        fp2(h, (uint64_t)(g_burst + 1) | (uint64_t)g_burst_alone << 8 |
                   (uint64_t)g_burst_yields << 16);
    else
        fp2(h, 0);
    for (int i = 0; i < g_nactors; i++) {
        fr_actor *a = &g_actors[i];
        fp2(h, (uint64_t)a->status | (uint64_t)a->started << 2 | (uint64_t)a->stuck << 3 |
                   (uint64_t)a->irql << 4 | (uint64_t)(a->event + 1) << 8 |
                   (uint64_t)(uint32_t)(a->op_index + 1) << 32);
        if (a->status == A_DONE)
            continue;
        fp2(h, (uint64_t)(uintptr_t)a->hook);
        fp2(h, (uint64_t)a->pending_op | (uint64_t)a->pending_size << 8 |
                   (uint64_t)a->arg_size << 24 | (uint64_t)(g_cpu_owner[a->cpu] + 1) << 32);
        fp2(h, (uint64_t)(uintptr_t)a->pending_obj);
        fp2(h, (uint64_t)a->arg_a);
        fp2(h, (uint64_t)a->arg_b);
        fp2(h, (uint64_t)a->n_held);
        for (int k = 0; k < a->n_held; k++)
            fp2(h, (uint64_t)(uintptr_t)a->held[k]);
        /* spins: what an iteration touched decides the future only after a yield, so an
         * operation never seen to yield leaves it out (spins[op]: stateful.c learns
         * them, and starts over when one first yields); nor does the first iteration's
         * list of steps count (a burst repeats whole iterations only) */
        if (spins && !spins[a->op_index < 0 ? g_sc->n_ops : a->op_index])
            goto stack;
        if (a->spin_wait)
            spin_scan(a);
        int seq = !a->seq_full ? 0 : a->seq_len < FR_SPIN_SEQ ? a->seq_len : FR_SPIN_SEQ;
        int prev = a->prev_len < FR_SPIN_SEQ ? a->prev_len : FR_SPIN_SEQ;
        fp2(h, (uint64_t)a->spin_wait | (uint64_t)a->dirty << 1 | (uint64_t)a->burst_ok << 2 |
                   (uint64_t)a->hopeless << 3 | (uint64_t)a->wide << 4 |
                   (uint64_t)a->seq_full << 5 | (uint64_t)a->fruitless << 8 |
                   (uint64_t)seq << 24 | (uint64_t)prev << 32 | (uint64_t)a->nkeys << 40 |
                   (uint64_t)(a->wide && g_writes - a->writes != a->others_at_start) << 48);
        for (int k = 0; k < seq; k++)
            fp2(h, (uint64_t)a->seq_op[k] ^ (uint64_t)(uintptr_t)a->seq_obj[k] << 8);
        for (int k = 0; k < prev; k++)
            fp2(h, (uint64_t)a->prev_op[k] ^ (uint64_t)(uintptr_t)a->prev_obj[k] << 8);
        for (int k = 0; k < a->nkeys; k++) {
            fp2(h, (uint64_t)(uintptr_t)a->keys[k]);
            fp2(h, (uint64_t)a->key_size[k] | (uint64_t)(!a->dirty && spin_key_written(a, k)) << 32);
        }
    stack:
        /* the local state: the live part of the coroutine stack */
        if (a->started) {
#ifdef FR_USE_UCONTEXT
            const unsigned char *sp = a->stack; /* no portable saved stack pointer: all of it */
#else
            const unsigned char *sp = (const unsigned char *)a->ctx.sp;
#endif
            size_t live = (size_t)(a->stack + FR_STACK_SIZE - sp);
            if (sp >= a->stack && sp < a->stack + FR_STACK_SIZE) {
                if (!g_sh[i].ok) {
                    g_sh[i].h[0] = 0x452821E638D01377ULL;
                    g_sh[i].h[1] = 0xBE5466CF34E90C6CULL;
                    fp2_bytes(g_sh[i].h, sp, live, -1);
                    g_sh[i].ok = 1;
                }
                fp2(h, g_sh[i].h[0]);
                fp2(h, g_sh[i].h[1]);
                if (live > g_fp_depth)
                    g_fp_depth = live;
            }
        }
    }
    fp2(h, fr_violation_kinds());
}
