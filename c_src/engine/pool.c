/*
 * pool.c - the pool (ExAllocatePoolWithTag's memory: one arena of blocks with
 * redzones, poisoned on allocation), the memory checks on it (use after free, out
 * of bounds, double free, freed while linked), and the names of memory for
 * reports and traces: pool blocks by model index and field, registered globals.
 */
#define _GNU_SOURCE
#include "fr_internal.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

fr_global g_globals[FR_MAX_GLOBALS];
int g_nglobals;
fr_region g_state[FR_MAX_GLOBALS];
int g_nstate;

/* pool */
unsigned char *g_arena;
size_t g_arena_cap, g_arena_used;
static int32_t *g_granule_block;
fr_block *g_blocks;
int g_nblocks, g_blocks_cap;

/* ---- pool ------------------------------------------------------------------ */
int pool_reserve(size_t bytes)
{
    /* Every granule can start a block, so the block table never has to grow
     * while stress threads read it. */
    if (g_arena_cap >= bytes)
        return 1;
    free(g_arena);
    free(g_granule_block);
    free(g_blocks);
    size_t granules = bytes / FR_GRANULE;
    g_arena = aligned_alloc(FR_GRANULE, bytes);
    g_granule_block = malloc(sizeof(int32_t) * granules);
    g_blocks = malloc(sizeof(fr_block) * granules);
    if (!g_arena || !g_granule_block || !g_blocks) {
        g_arena_cap = 0;
        g_blocks_cap = 0;
        return 0;
    }
    g_arena_cap = bytes;
    g_blocks_cap = (int)granules;
    return 1;
}

void pool_reset(void)
{
    g_arena_used = 0;
    g_nblocks = 0;
}

fr_block *block_of(const volatile void *p)
{
    const unsigned char *c = (const unsigned char *)p;
    if (c < g_arena || c >= g_arena + __atomic_load_n(&g_arena_used, __ATOMIC_ACQUIRE))
        return NULL;
    return &g_blocks[g_granule_block[(size_t)(c - g_arena) / FR_GRANULE]];
}

void *fr_pool_alloc(size_t size, uint32_t tag)
{
    /* the block, rounded up to granules, then one granule of redzone (under
     * AddressSanitizer, a write past the block is reported) */
    size_t need = (size + FR_GRANULE - 1) / FR_GRANULE * FR_GRANULE + FR_GRANULE;
    void *p = NULL;
    if (fr_mode == FR_MODE_STRESS)
        pthread_mutex_lock(&g_lock);
    if (g_arena_used + need <= g_arena_cap) {
        int b = g_nblocks++;
        fr_block *blk = &g_blocks[b];
        blk->off = (uint32_t)g_arena_used;
        blk->size = (uint32_t)size;
        blk->state = B_LIVE;
        blk->flow = -1;
        blk->linked = 0;
        blk->tag = tag;
        for (size_t g = g_arena_used / FR_GRANULE; g < (g_arena_used + need) / FR_GRANULE; g++)
            g_granule_block[g] = b;
        p = g_arena + g_arena_used;
        FR_ASAN_UNPOISON(p, need);
        /* Pool memory is not zeroed on Windows: poison it so code that
         * forgets to initialise a field shows it. */
        memset(p, 0xCD, need);
        FR_ASAN_POISON((unsigned char *)p + size, need - size);
        __atomic_store_n(&g_arena_used, g_arena_used + need, __ATOMIC_RELEASE);
    }
    if (fr_mode == FR_MODE_STRESS)
        pthread_mutex_unlock(&g_lock);
    return p;
}

void fr_pool_free(void *p, uint32_t tag)
{
    (void)tag;
    fr_block *b = block_of(p);
    if (!b || g_arena + b->off != (unsigned char *)p) {
        fr_report(FR_V_DOUBLE_FREE, b ? b->flow : -1,
                  "ExFreePoolWithTag(%p) of an address that is not an allocated block", p);
        return;
    }
    int old = __atomic_exchange_n(&b->state, B_FREED, __ATOMIC_ACQ_REL);
    if (old == B_FREED) {
        fr_report(FR_V_DOUBLE_FREE, b->flow, "flow %d freed twice", b->flow);
        return;
    }
    if (__atomic_load_n(&b->linked, __ATOMIC_ACQUIRE) > 0)
        fr_report(FR_V_FREED_WHILE_LINKED, b->flow,
                  "flow %d freed while still linked into a table", b->flow);
}

void fr_pool_tag_flow(void *p, int flow)
{
    fr_block *b = block_of(p);
    if (b)
        b->flow = flow;
}

int fr_pool_flow_of(const volatile void *p)
{
    fr_block *b = block_of(p);
    return b ? b->flow : -1;
}

int fr_pool_is_freed(const volatile void *p)
{
    fr_block *b = block_of(p);
    return b && __atomic_load_n(&b->state, __ATOMIC_ACQUIRE) == B_FREED;
}

void fr_pool_link(const volatile void *entry, int delta)
{
    fr_block *b = block_of(entry);
    if (b)
        __atomic_add_fetch(&b->linked, delta, __ATOMIC_ACQ_REL);
}

void fr_check_access(const volatile void *p)
{
    fr_check_range(p, 1, -1, NULL);
}

void fr_pc_text(const void *pc, char *buf, size_t n)
{
    Dl_info info;
    if (pc && dladdr(pc, &info) && info.dli_fbase)
        snprintf(buf, n, "@pc:%lx@", (unsigned long)((uintptr_t)pc - (uintptr_t)info.dli_fbase));
    else if (pc)
        snprintf(buf, n, "pc %p", pc);
    else
        snprintf(buf, n, "a shim call");
}

/* Is [p, p+size) inside a live block, when p is in the pool's arena? A freed block
 * is a use after free; a block's redzone, or arena memory no block was ever given,
 * is out of bounds. `write`: 1 a write, 0 a read, -1 a shim operation; pc: the code
 * that made the access (NULL for shim operations). */
void fr_check_range(const volatile void *p, int size, int write, const void *pc)
{
    const unsigned char *c = (const unsigned char *)p;
    if (c < g_arena || c >= g_arena + g_arena_cap)
        return;
    size_t off = (size_t)(c - g_arena);
    size_t used = __atomic_load_n(&g_arena_used, __ATOMIC_ACQUIRE);
    fr_block *b = off < used ? &g_blocks[g_granule_block[off / FR_GRANULE]] : NULL;
    if (b && fr_mode == FR_MODE_CONTROLLED && g_cur) /* what the step touched (explore.c) */
        g_cur->blocks |= 1ULL << ((size_t)(b - g_blocks) & 63);
    if (b && __atomic_load_n(&b->state, __ATOMIC_ACQUIRE) != B_FREED &&
        off + (size_t)size <= b->off + (size_t)b->size)
        return; /* inside a live block: the common case */
    const char *what = write < 0 ? "access" : write ? "write" : "read";
    char where[48];
    fr_pc_text(pc, where, sizeof where);
    if (!b) {
        fr_report(FR_V_OUT_OF_BOUNDS, -1,
                  "%s of %d byte(s) at pool arena +%zu, where no block was ever allocated (%s)",
                  what, size, off, where);
        return;
    }
    unsigned rel = (unsigned)(off - b->off);
    if (__atomic_load_n(&b->state, __ATOMIC_ACQUIRE) == B_FREED) {
        if (pc)
            fr_report(FR_V_USE_AFTER_FREE, b->flow,
                      "flow %d touched after it was freed: %s of %d byte(s) at offset %u (%s)",
                      b->flow, what, size, rel, where);
        else
            fr_report(FR_V_USE_AFTER_FREE, b->flow,
                      "flow %d touched after it was freed (offset %u)", b->flow, rel);
    } else if (off + (size_t)size > b->off + (size_t)b->size) {
        if (b->flow >= 0)
            fr_report(FR_V_OUT_OF_BOUNDS, b->flow,
                      "%s of %d byte(s) at flow %d +%u, past the end of its %u-byte context "
                      "(its redzone) (%s)",
                      what, size, b->flow, rel, b->size, where);
        else
            fr_report(FR_V_OUT_OF_BOUNDS, -1,
                      "%s of %d byte(s) at +%u of a %u-byte pool block, past its end (%s)", what,
                      size, rel, b->size, where);
    }
}

/* ---- globals for the trace ------------------------------------------------ */
void fr_register_global(const volatile void *p, size_t size, const char *name)
{
    for (int i = 0; i < g_nglobals; i++)
        if (g_globals[i].p == (const volatile char *)p) {
            g_globals[i].size = size;
            return;
        }
    if (g_nglobals < FR_MAX_GLOBALS)
        g_globals[g_nglobals++] = (fr_global){(const volatile char *)p, size, name};
}

void fr_register_state(volatile void *p, size_t size)
{
    for (int i = 0; i < g_nstate; i++)
        if (g_state[i].p == (volatile char *)p) {
            g_state[i].size = size;
            return;
        }
    if (g_nstate < FR_MAX_GLOBALS)
        g_state[g_nstate++] = (fr_region){(volatile char *)p, size};
    else
        set_error(FR_ERR_SPEC, "the model registered more than %d state regions", FR_MAX_GLOBALS);
}

static int global_of(const volatile void *p)
{
    for (int i = 0; i < g_nglobals; i++)
        if ((const volatile char *)p >= g_globals[i].p &&
            (const volatile char *)p < g_globals[i].p + g_globals[i].size)
            return i;
    return -1;
}

/* The list p is the head of, or an entry of: the registered global its head lies in
 * (openFlows' buckets, closedFlows), found by following Flink through pool blocks; -1 if
 * the walk leaves the pool and the globals, or goes on too long (a corrupted list). */
int fr_pool_list_of(const volatile void *p)
{
    const volatile void *start = p;
    for (int hop = 0; hop < 4096 && p && (hop == 0 || p != start); hop++) {
        int g = global_of(p);
        if (g >= 0)
            return g;
        const unsigned char *q = (const unsigned char *)p;
        if (q < g_arena || q + sizeof(void *) > g_arena + g_arena_used)
            return -1;
        const volatile void *next;
        memcpy(&next, q, sizeof next); /* LIST_ENTRY's first member: Flink */
        p = next;
    }
    return -1;
}

int fr_pool_block_linked(int block)
{
    return block >= 0 && block < g_nblocks && __atomic_load_n(&g_blocks[block].linked,
                                                               __ATOMIC_ACQUIRE) > 0;
}

const char *fr_global_name(int index)
{
    return index >= 0 && index < g_nglobals ? g_globals[index].name : "?";
}

void describe_obj(const volatile void *p, char *buf, size_t n)
{
    fr_block *b = block_of(p);
    if (b) {
        snprintf(buf, n, "flow %d +%u", b->flow,
                 (unsigned)((const unsigned char *)p - g_arena - b->off));
        return;
    }
    int g = global_of(p);
    if (g >= 0)
        snprintf(buf, n, "%s", g_globals[g].name);
    else
        snprintf(buf, n, "%p", (const void *)p);
}

void fr_describe_addr(const volatile void *p, char *buf, size_t n)
{
    fr_block *b = block_of(p);
    if (b && b->flow >= 0) {
        int rel = (int)((const unsigned char *)p - g_arena - b->off), start = 0;
        const char *field = (uint32_t)rel < b->size && g_model && g_model->describe_field
                                ? g_model->describe_field(rel, &start)
                                : NULL;
        if (field && start == rel)
            snprintf(buf, n, "flow %d %s", b->flow, field);
        else if (field)
            snprintf(buf, n, "flow %d %s+%d", b->flow, field, rel - start);
        else
            snprintf(buf, n, "flow %d +%d", b->flow, rel);
        return;
    }
    describe_obj(p, buf, n);
    Dl_info info;
    if (buf[0] == '0' && dladdr((const void *)p, &info) && info.dli_fbase) /* a variant's global */
        snprintf(buf, n, "@data:%lx@",
                 (unsigned long)((uintptr_t)p - (uintptr_t)info.dli_fbase));
}

/* An address as the same number in every run of one build: an offset into the pool,
 * or from one of the module's own objects (its globals); other memory as it is. */
uint64_t fr_stable_address(uintptr_t a)
{
    uintptr_t base = (uintptr_t)g_arena;
    if (base && a >= base && a < base + g_arena_cap)
        return (uint64_t)(a - base) | 1ULL << 62;
    uintptr_t self = (uintptr_t)&g_arena;
    if (a - self + ((uintptr_t)1 << 30) < ((uintptr_t)1 << 31))
        return (uint64_t)(a - self) | 1ULL << 61;
    return (uint64_t)a;
}

int fr_pool_block_index(const volatile void *p)
{
    fr_block *b = block_of(p);
    return b ? (int)(b - g_blocks) : -1;
}

void fr_describe_obj(const volatile void *p, int *kind, int *index, int *offset)
{
    *kind = FR_OBJ_NONE;
    *index = -1;
    *offset = 0;
    if (!p)
        return;
    fr_block *b = block_of(p);
    if (b) {
        *kind = FR_OBJ_POOL;
        *index = b->flow;
        *offset = (int)((const unsigned char *)p - g_arena - b->off);
        return;
    }
    int g = global_of(p);
    if (g >= 0) {
        *kind = FR_OBJ_GLOBAL;
        *index = g;
        *offset = (int)((const volatile char *)p - g_globals[g].p);
    }
}
