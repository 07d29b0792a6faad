/*
 * stateful.c - the visited set of the stateful exhaustive search (FR_DFS_SPEC.stateful).
 *
 * The depth-first explorer (explore.c) asks, at every new scheduling point, whether
 * the state there was visited before; if so it cuts the execution: everything that can
 * follow a state was (or is being) explored from its first visit. Each reachable state
 * is then expanded once, whatever number of interleavings lead to it.
 *
 * A state is a 128-bit fingerprint of everything that determines the future
 * (engine.c, fr_state_fingerprint): the model's memory (pool blocks, registered
 * globals), each actor's position and local state (its live coroutine stack), spins,
 * bursts, events, locks, lock-order edges, the violation kinds so far, and
 *   - the memory a variant keeps of its own (its globals: not registered with the
 *     engine): every object a step touches outside the pool and the registered globals
 *     joins the fingerprint; a new one restarts the search (earlier states were told
 *     apart without it), so a complete search has seen every such object it reaches;
 *   - the data-race detector's state (race.c, as orders of epochs, not their values),
 *     once any execution made a plain access (a race needs one): the search starts over
 *     with it then. Without plain accesses no race can be reported, and states that
 *     differ only in the detector's history are one state.
 * History alone is not in it (step numbers, write counters, the flows' Timestamp).
 *
 * A collision (two different states with one fingerprint) would cut a state that was
 * never explored: whatever only it leads to would be missed. With n states in the set
 * the chance of any collision is about n^2 / 2^129 (1e-24 for 10 million states).
 */
#define _GNU_SOURCE
#include "fr_engine.h"
#include "fr_sched.h"

#include <stdlib.h>
#include <string.h>

typedef struct fp128 {
    uint64_t a, b; /* a == 0 && b == 0: an empty slot */
    uint32_t id;   /* the state's number: an index into S.fin */
} fp128;

typedef struct obj_ref {
    volatile unsigned char *p;
    int size;
    int saved;              /* `value` holds its bytes at the start of every execution */
    unsigned char value[16];
} obj_ref;

static struct {
    fp128 *slots;
    size_t cap;     /* a power of two */
    size_t count;
    obj_ref *objs;  /* the variant's own objects seen so far */
    int n_objs, objs_cap;
    int race;       /* the detector's state is part of the fingerprint */
    unsigned char *spins; /* per scenario operation (+ settle): seen to yield */
    int n_spins;
    int on;         /* a stateful search is running */
    uint32_t *fin;  /* per state: 0 while on the search path, else 1 + its summary's number */
    size_t fin_cap;
} S;

int64_t fr_timestamp(void) { return S.on ? 0 : fr_current_step(); }

/* The fingerprint reads an actor's live stack, and a frame's slot that the code never
 * initialises still holds what an earlier frame left there: a value read by an earlier
 * operation, or by an earlier phase of this one, or a report's text (step numbers).
 * That is history, not state (it splits one state in many): the engine clears the
 * stack below the running frame before each operation and after a report, the harness
 * between the phases of a poll. Only during a stateful search. */
static __attribute__((noinline)) void scrub(size_t n)
{
    unsigned char below[16384];
    memset(below + sizeof below - n, 0, n);
    __asm__ __volatile__("" : : "r"(below) : "memory"); /* not a dead store to drop */
}

void fr_stack_scrub(size_t bytes)
{
    if (!S.on || fr_current_actor() < 0)
        return;
    if (bytes <= 4096) /* between operations: only as deep as frames went (a report's
                          16 KiB stays whole: it goes deeper) */
        bytes = fr_sched_scrub_size(bytes);
    scrub(bytes < 16384 ? bytes : 16384);
}

/* The summaries of finished states (fr_touch per actor), each kept once. */
static struct {
    fr_touch *v;      /* width touches per summary */
    size_t n, cap;
    int width;
    uint32_t *slot;   /* hash table: 1 + summary number, 0 empty */
    size_t slots;
} U;

static uint64_t touch_hash(const fr_touch *t, int width)
{
    /* four independent chains (a summary is a few thousand bytes, hashed per finished
     * state), folded at the end */
    uint64_t h[4] = {0x9E3779B97F4A7C15ULL, 0xC2B2AE3D27D4EB4FULL, 0x165667B19E3779F9ULL,
                     0x27D4EB2F165667C5ULL};
    const uint64_t *w = (const uint64_t *)t;
    size_t words = sizeof(fr_touch) * (size_t)width / 8, i = 0;
    for (; i + 4 <= words; i += 4)
        for (int k = 0; k < 4; k++)
            h[k] = (h[k] ^ w[i + k]) * 0xFF51AFD7ED558CCDULL, h[k] ^= h[k] >> 31;
    for (; i < words; i++)
        h[0] = (h[0] ^ w[i]) * 0xFF51AFD7ED558CCDULL, h[0] ^= h[0] >> 31;
    return fr_fmix64(h[0] ^ fr_fmix64(h[1] ^ fr_fmix64(h[2] ^ fr_fmix64(h[3]))));
}

uint32_t fr_stateful_summary_intern(const fr_touch *t, int width)
{
    if (width != U.width) { /* another scenario: summaries of another size */
        free(U.v);
        U.v = NULL;
        U.n = U.cap = 0;
        U.width = width;
        if (U.slot)
            memset(U.slot, 0, sizeof(uint32_t) * U.slots);
    }
    size_t bytes = sizeof(fr_touch) * (size_t)width;
    if ((U.n + 1) * 2 > U.slots) {
        size_t slots = U.slots ? U.slots * 2 : 4096;
        uint32_t *n = calloc(slots, sizeof(uint32_t));
        if (!n)
            return UINT32_MAX;
        for (size_t i = 0; i < U.n; i++) {
            size_t j = touch_hash(&U.v[i * (size_t)width], width) & (slots - 1);
            while (n[j])
                j = (j + 1) & (slots - 1);
            n[j] = (uint32_t)i + 1;
        }
        free(U.slot);
        U.slot = n;
        U.slots = slots;
    }
    size_t j = touch_hash(t, width) & (U.slots - 1);
    for (; U.slot[j]; j = (j + 1) & (U.slots - 1))
        if (!memcmp(&U.v[(size_t)(U.slot[j] - 1) * (size_t)width], t, bytes))
            return U.slot[j] - 1;
    if (U.n == U.cap) {
        size_t cap = U.cap ? U.cap * 2 : 1024;
        fr_touch *n = realloc(U.v, bytes * cap);
        if (!n)
            return UINT32_MAX;
        U.v = n;
        U.cap = cap;
    }
    memcpy(&U.v[U.n * (size_t)width], t, bytes);
    U.slot[j] = (uint32_t)U.n + 1;
    return (uint32_t)U.n++;
}

const fr_touch *fr_stateful_summary(uint32_t id)
{
    return id < U.n ? &U.v[(size_t)id * (size_t)U.width] : NULL;
}

void fr_stateful_reset(void)
{
    if (S.slots)
        memset(S.slots, 0, sizeof(fp128) * S.cap);
    S.count = 0;
    U.n = 0;
    if (U.slot)
        memset(U.slot, 0, sizeof(uint32_t) * U.slots);
}

/* A new search: forget the objects and plain accesses seen as well. */
void fr_stateful_start(int n_ops)
{
    fr_stateful_reset();
    S.n_objs = 0;
    S.race = 0;
    fr_race_plain_seen = 0;
    int n = n_ops + 1;
    free(S.spins);
    S.spins = calloc((size_t)n, 1);
    S.n_spins = S.spins ? n : 0;
}

/* Between these the executions are the stateful search's (fr_timestamp). */
void fr_stateful_running(int on)
{
    S.on = on;
    fr_race_off = 0; /* (fr_stateful_execution rests it, execution by execution) */
}

static int grow(void)
{
    size_t cap = S.cap ? S.cap * 2 : (size_t)1 << 16;
    fp128 *n = calloc(cap, sizeof(fp128));
    if (!n)
        return 0;
    for (size_t i = 0; i < S.cap; i++) {
        fp128 f = S.slots[i];
        if (!f.a && !f.b)
            continue;
        size_t j = (size_t)f.a & (cap - 1);
        while (n[j].a || n[j].b)
            j = (j + 1) & (cap - 1);
        n[j] = f;
    }
    free(S.slots);
    S.slots = n;
    S.cap = cap;
    return 1;
}

/* 1: a new state, now visited; 0: seen before. *id: its number (fr_stateful_finish). */
int fr_stateful_visit_id(int64_t *id)
{
    uint64_t h[2];
    fr_state_fingerprint(h, S.spins);
    for (int i = 0; i < S.n_objs; i++) {
        const obj_ref *o = &S.objs[i];
        uint64_t w = 0;
        memcpy(&w, (const void *)o->p, o->size < 8 ? (size_t)o->size : 8);
        for (int k = 8; k < o->size; k++)
            w = w * 131 + o->p[k];
        h[0] = fr_fmix64(h[0] ^ w);
        h[1] = fr_fmix64(h[1] + w * 0x9E3779B97F4A7C15ULL);
    }
    if (S.race)
        fr_race_fingerprint(h);
    fp128 f = {fr_fmix64(h[0]), fr_fmix64(h[1] ^ 0x6A09E667F3BCC909ULL), 0};
    if (!f.a && !f.b)
        f.b = 1;
    *id = -1;
    if ((S.count + 1) * 10 > S.cap * 7 && !grow())
        return 1; /* out of memory: explore it (never a wrong cut) */
    if (S.count == S.fin_cap) {
        size_t cap = S.fin_cap ? S.fin_cap * 2 : (size_t)1 << 16;
        uint32_t *n = realloc(S.fin, sizeof(uint32_t) * cap);
        if (!n)
            return 1;
        S.fin = n;
        S.fin_cap = cap;
    }
    size_t j = (size_t)f.a & (S.cap - 1);
    while (S.slots[j].a || S.slots[j].b) {
        if (S.slots[j].a == f.a && S.slots[j].b == f.b) {
            *id = S.slots[j].id;
            return 0;
        }
        j = (j + 1) & (S.cap - 1);
    }
    f.id = (uint32_t)S.count;
    S.fin[S.count] = 0;
    *id = (int64_t)S.count;
    S.slots[j] = f;
    S.count++;
    return 1;
}

int fr_stateful_visit(void)
{
    int64_t id;
    return fr_stateful_visit_id(&id);
}

/* Everything below the state was explored; summary: what its steps touch (explore.c). */
void fr_stateful_finish(int64_t id, uint32_t summary)
{
    if (id >= 0 && (size_t)id < S.count)
        S.fin[id] = summary + 1;
}

/* 1 and *summary once the state was finished, 0 while it is on the search path. */
int fr_stateful_finished(int64_t id, uint32_t *summary)
{
    if (id < 0 || (size_t)id >= S.count || !S.fin[id])
        return 0;
    *summary = S.fin[id] - 1;
    return 1;
}

static int add_obj(volatile unsigned char *p, int size)
{
    for (int i = 0; i < S.n_objs; i++)
        if (S.objs[i].p == p && S.objs[i].size >= size)
            return 0;
    if (S.n_objs == S.objs_cap) {
        int cap = S.objs_cap ? S.objs_cap * 2 : 16;
        obj_ref *n = realloc(S.objs, sizeof(obj_ref) * (size_t)cap);
        if (!n)
            return 0;
        S.objs = n;
        S.objs_cap = cap;
    }
    S.objs[S.n_objs++] = (obj_ref){p, size, 0, {0}};
    return 1;
}

/* The step just taken (op on obj, size bytes, in scenario operation op_index, -1 the
 * settle poll): a variant's object the fingerprint does not hold yet, the first plain
 * access, or an operation's first yield mean the search must start over. */
int fr_stateful_note(int op, const volatile void *obj, int size, int op_index)
{
    int again = 0;
    if (op == FR_SP_YIELD || op == FR_SP_STALL) {
        int k = op_index < 0 ? S.n_spins - 1 : op_index;
        if (k >= 0 && k < S.n_spins && !S.spins[k]) { /* its iterations are state from now */
            S.spins[k] = 1;
            again = 1;
        }
        return again;
    }
    if (fr_race_plain_seen && !S.race) {
        S.race = 1;
        again = 1;
    }
    if (!obj || op == FR_SP_BEGIN || op == FR_SP_ALLOC || fr_pool_block_index(obj) >= 0)
        return again;
    int kind, index, offset;
    fr_describe_obj(obj, &kind, &index, &offset);
    if (kind == FR_OBJ_GLOBAL)
        return again;
    if (size < 1)
        size = 1;
    for (int off = 0; off < size; off += 16) /* in pieces of 16 bytes (obj_ref.value) */
        again |= add_obj((volatile unsigned char *)obj + off, size - off < 16 ? size - off : 16);
    return again;
}

/* Before each execution: a variant's object starts with the bytes it had when the
 * search first saw it (after that restart). A variant should reset its globals in
 * FlowVariantInitialize; one that does not (a statistics counter, say) would otherwise
 * start every execution from another state, and no state would ever be seen twice. */
void fr_stateful_execution(void)
{
    fr_race_off = S.on && !S.race && !fr_race_plain_seen; /* (for the whole execution) */
    for (int i = 0; i < S.n_objs; i++) {
        obj_ref *o = &S.objs[i];
        if (!o->saved) {
            memcpy(o->value, (const void *)o->p, (size_t)o->size);
            o->saved = 1;
        } else {
            memcpy((void *)o->p, o->value, (size_t)o->size);
        }
    }
}

/* A checkpoint's copy of the variant's objects, as they are now (checkpoint.c). */
int fr_stateful_objs_count(void) { return S.n_objs; }

size_t fr_stateful_objs_bytes(void)
{
    size_t n = 0;
    for (int i = 0; i < S.n_objs; i++)
        n += (size_t)S.objs[i].size;
    return n;
}

void fr_stateful_objs_save(unsigned char *out)
{
    for (int i = 0; i < S.n_objs; i++) {
        memcpy(out, (const void *)S.objs[i].p, (size_t)S.objs[i].size);
        out += S.objs[i].size;
    }
}

void fr_stateful_objs_load(const unsigned char *in)
{
    for (int i = 0; i < S.n_objs; i++) {
        memcpy((void *)S.objs[i].p, in, (size_t)S.objs[i].size);
        in += S.objs[i].size;
    }
}

int64_t fr_stateful_states(void) { return (int64_t)S.count; }

int64_t fr_stateful_bytes(void)
{
    return (int64_t)(S.cap * sizeof(fp128) + S.fin_cap * sizeof(uint32_t) +
                     U.cap * sizeof(fr_touch) * (size_t)U.width + U.slots * sizeof(uint32_t));
}
