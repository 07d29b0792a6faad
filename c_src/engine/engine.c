/*
 * engine.c - controlled-mode scheduler, stress-mode noise, checks, pool.
 *
 * Controlled mode: every actor (a simulated CPU running a scenario's
 * operations) is a coroutine on its own stack. At every scheduling point the
 * actor records what it is about to do and switches back to the engine loop,
 * which computes the enabled actors and asks the strategy who runs next. An
 * actor is enabled unless
 *   - it waits for events of other actors (the scenario's causality),
 *   - its CPU is owned by another actor at DISPATCH_LEVEL (a DPC that landed
 *     on that CPU, or a spin-lock holder): the preempted actor cannot run,
 *   - it wants a spin lock someone holds,
 *   - it spun (YieldProcessor/KeStallExecutionProcessor), nobody has written
 *     what that iteration read, and a burst of its iterations alone already ran
 *     out (see "spins" below).
 * When nobody is enabled and not everyone is done, the execution ends with a
 * livelock (someone spins) or a deadlock (everyone blocked).
 *
 * After the scenario's actors finish, a settle actor does one more user-space
 * poll (user space polls forever), then the leak check runs.
 */
#define _GNU_SOURCE
#include "fr_engine.h"
#include "fr_ctx.h"
#include "fr_sched.h"

#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int fr_mode = FR_MODE_IDLE;

#define FR_STACK_SIZE (256 * 1024)
#define FR_MAX_CPUS 64
#define FR_MAX_VIOLATIONS 64
#define FR_MAX_HELD 8
#define FR_MAX_LOCK_EDGES 64
#define FR_MAX_GLOBALS 32
#define FR_GRANULE 64
#define FR_SETTLE_CPU (FR_MAX_CPUS - 1)
#define FR_SPIN_KEYS 8   /* words a spin iteration may touch and still be waited on precisely */
#define FR_SPIN_SEQ 24   /* steps of a spin iteration compared to tell a burst left its loop */
#define FR_WLOG 4096     /* recent writes remembered (object, writer), a power of two */

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define FR_ASAN_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define FR_ASAN_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define FR_ASAN_POISON(p, n) ((void)(p), (void)(n))
#define FR_ASAN_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

enum { A_IDLE, A_READY, A_DONE };
enum { B_FREE = 0, B_LIVE = 1, B_FREED = 2 };

typedef struct fr_actor {
    fr_ctx ctx;
    unsigned char *stack;
    int index;
    int status;
    int started;
    int stuck;
    int cpu;
    int irql;
    const char *hook; /* the variant hook it is in (FR_HOOK), or NULL */
    int event;
    int op_index;       /* op about to begin (gate of FR_SP_BEGIN) */
    int pending_op;
    const volatile void *pending_obj;
    int pending_size;   /* bytes the pending operation touches */
    int next_size;      /* fr_point_sized: the size of the point being taken */
    /* spinning (see "spins" above the controlled loop) */
    int spin_wait;      /* it yielded: its next iteration waits for a change */
    int dirty;          /* another actor wrote a word the iteration accessed, after the access */
    int burst_ok;       /* it may instead run its next iterations alone (a burst) */
    int hopeless;       /* a burst ran out with nobody else able to run */
    int fruitless;      /* yields since another actor's write last ended its wait */
    int wide;           /* the iteration touched the lists or more than FR_SPIN_KEYS words */
    int woke;           /* its last step began an iteration after a yield: 1 waited, 2 burst */
    uint64_t scan_pos;  /* writes checked against the keys up to here */
    uint64_t others_at_start; /* writes by others when the iteration began (wide spins) */
    int nkeys, nwoke;
    const volatile void *keys[FR_SPIN_KEYS]; /* words the current iteration accessed */
    int key_size[FR_SPIN_KEYS];               /* bytes accessed there */
    uint64_t key_stamp[FR_SPIN_KEYS];        /* g_writes right after its latest access */
    const volatile void *woke_keys[FR_SPIN_KEYS]; /* the keys of the wait its last step ended */
    int woke_key_size[FR_SPIN_KEYS];
    int seq_len, prev_len; /* the iteration's steps, and the previous whole iteration's */
    int seq_full;
    int seq_op[FR_SPIN_SEQ], prev_op[FR_SPIN_SEQ];
    const volatile void *seq_obj[FR_SPIN_SEQ], *prev_obj[FR_SPIN_SEQ];
    uint64_t writes;
    int spins;
    int n_held;
    const volatile void *held[FR_MAX_HELD];
    uint64_t pct_prio;
    int op_steps;       /* steps since the current operation began (state graph) */
    int scrub;          /* a report ran on its stack: clear below it (fr_stack_scrub) */
    int arg_size;       /* operands of the pending operation (fr_point_args), 0 if none */
    int64_t arg_a, arg_b;
} fr_actor;

typedef struct raw_step {
    int actor;
    int op;
    int event;
    const volatile void *obj;
    int size;           /* bytes of obj the step touches */
    int64_t value;
    uint32_t enabled;   /* actors enabled before the step */
    unsigned char wrote; /* the step changed shared memory */
} raw_step;

typedef struct fr_block {
    uint32_t off;
    uint32_t size;
    int state;
    int flow;
    int linked;
    uint32_t tag;
} fr_block;

typedef struct fr_global {
    const volatile char *p;
    size_t size;
    const char *name;
} fr_global;

/* ---- execution state ----------------------------------------------------- */
static const FR_SCENARIO_SPEC *g_sc;
static const FR_RUN_SPEC *g_run;
static fr_actor g_actors[FR_MAX_ACTORS + 1];
static int g_nactors; /* including the settle actor */
static fr_ctx g_main_ctx;
static fr_actor *g_cur;
static int g_steps;
static raw_step *g_trace;
static int g_trace_cap;
static int g_cpu_owner[FR_MAX_CPUS];
static uint64_t g_writes;
static const volatile void *g_wlog[FR_WLOG]; /* object of write number w, at w % FR_WLOG */
static signed char g_wlog_actor[FR_WLOG];
static int g_wlog_size[FR_WLOG];
static int g_burst = -1;      /* the actor running a burst, or -1 */
static int g_burst_alone;     /* nobody else could run when it began */
static int g_burst_yields;
static uint32_t g_burst_mask; /* actors whose next step would begin a burst */
static unsigned char *g_event_done;
static int *g_event_step; /* step during which each event ended (explorer's happens-before) */
static int g_event_cap;
static int g_abort;
static int g_error;
static char g_errtext[256];
static uint64_t g_rng;
static int g_step_log_fd = -1;
static int g_main_irql; /* IRQL of code run outside any actor (setup, checks) */

/* strategy state */
static int g_seg, g_seg_done, g_order_pos, g_pct_cps[16], g_pct_ncps;

static FR_VIOLATION g_viol[FR_MAX_VIOLATIONS];
static int g_nviol;
static FR_POLL_RECORD *g_records;
static int g_nrec, g_rec_cap;
static const volatile void *g_edges[FR_MAX_LOCK_EDGES][2];
static int g_nedges;
static fr_global g_globals[FR_MAX_GLOBALS];
static int g_nglobals;

/* pool */
static unsigned char *g_arena;
static size_t g_arena_cap, g_arena_used;
static int32_t *g_granule_block;
static fr_block *g_blocks;
static int g_nblocks, g_blocks_cap;

/* stress */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_noise_permille, g_hold_spins;
static int g_stress_abort; /* read and written with __atomic: threads stop on it */
/* The budget, in the thread's own CPU seconds, of one callback that spins or waits for a
 * lock without a provable deadlock: past it the run stops as "timed out" (an undecided
 * hang, not a finding). CPU time, not wall-clock time: a busy machine slows a thread down
 * but does not give it more CPU time, so load alone never reaches the budget. */
static double g_stress_spin_limit = 10.0;
static char g_stress_timeout[256]; /* why the run timed out ("" when it did not) */
/* The waits-for graph of stress mode: the spin lock each thread is waiting for (NULL: not
 * waiting), and a count of its waits, so that a cycle seen twice with the same counts was
 * there the whole time between (nobody in it acquired or released anything). */
#define FR_STRESS_WAITERS 1024
static const volatile void *g_waiting_for[FR_STRESS_WAITERS]; /* read and written with __atomic */
static unsigned g_wait_gen[FR_STRESS_WAITERS];                 /* likewise */
static __thread int t_actor = -1;
static __thread uint64_t t_rng;
static __thread int t_irql;
static __thread const char *t_hook;
static __thread long t_op_spins;
static __thread double t_op_spin_start;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static uint64_t seed_mix(uint64_t seed)
{
    uint64_t z = seed + 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return z ? z : 0x1234567ULL;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- queries ---------------------------------------------------------------- */
const FR_SCENARIO_SPEC *fr_scenario(void) { return g_sc; }
int fr_current_step(void) { return g_steps - 1; }

int fr_current_actor(void)
{
    if (fr_mode == FR_MODE_STRESS)
        return t_actor;
    return g_cur ? g_cur->index : -1;
}

const char *fr_error_text(void) { return g_errtext; }

#ifndef FR_BUILD_ID
#define FR_BUILD_ID "unknown"
#endif
/* The digest of the sources this module was built from (kernel_model._build). */
const char *fr_build_id(void) { return FR_BUILD_ID; }

static void set_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_errtext, sizeof g_errtext, fmt, ap);
    va_end(ap);
    g_error = code;
    g_abort = 1;
}

/* ---- pool ------------------------------------------------------------------ */
static int pool_reserve(size_t bytes)
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

static void pool_reset(void)
{
    g_arena_used = 0;
    g_nblocks = 0;
}

static fr_block *block_of(const volatile void *p)
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

const char *fr_global_name(int index)
{
    return index >= 0 && index < g_nglobals ? g_globals[index].name : "?";
}

/* ---- violations --------------------------------------------------------------- */
void fr_report(int kind, int flow, const char *fmt, ...)
{
    if (fr_mode == FR_MODE_STRESS)
        pthread_mutex_lock(&g_lock);
    int dup = 0;
    for (int i = 0; i < g_nviol; i++)
        if (g_viol[i].kind == kind && g_viol[i].flow == flow)
            dup = 1;
    if (!dup && g_nviol < FR_MAX_VIOLATIONS) {
        FR_VIOLATION *v = &g_viol[g_nviol++];
        v->kind = kind;
        v->flow = flow;
        v->actor = fr_current_actor();
        if (v->actor < 0 && fr_mode == FR_MODE_CONTROLLED)
            v->actor = g_nactors - 1; /* found after everyone finished: the settle check */
        v->step = fr_mode == FR_MODE_CONTROLLED ? g_steps - 1 : -1;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(v->detail, sizeof v->detail, fmt, ap);
        va_end(ap);
        if (g_run && g_run->stop_on_violation && fr_mode == FR_MODE_CONTROLLED)
            g_abort = 1;
        if (fr_mode == FR_MODE_CONTROLLED && g_cur)
            g_cur->scrub = 1;
    }
    if (fr_mode == FR_MODE_STRESS)
        pthread_mutex_unlock(&g_lock);
}

static void describe_obj(const volatile void *p, char *buf, size_t n)
{
    fr_block *b = block_of(p);
    if (b) {
        snprintf(buf, n, "flow %d +%u", b->flow,
                 (unsigned)((const unsigned char *)p - g_arena - b->off));
        return;
    }
    for (int i = 0; i < g_nglobals; i++)
        if ((const volatile char *)p >= g_globals[i].p &&
            (const volatile char *)p < g_globals[i].p + g_globals[i].size) {
            snprintf(buf, n, "%s", g_globals[i].name);
            return;
        }
    snprintf(buf, n, "%p", (const void *)p);
}

void fr_describe_addr(const volatile void *p, char *buf, size_t n)
{
    fr_block *b = block_of(p);
    if (b && b->flow >= 0) {
        int rel = (int)((const unsigned char *)p - g_arena - b->off), start = 0;
        const char *field = (uint32_t)rel < b->size ? fr_flow_field_at(rel, &start) : NULL;
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

/* ---- records -------------------------------------------------------------------- */
void fr_add_record(const FR_POLL_RECORD *rec)
{
    if (fr_mode == FR_MODE_STRESS)
        return; /* stress polls are counted, not kept */
    if (g_nrec == g_rec_cap) {
        int cap = g_rec_cap ? g_rec_cap * 2 : 64;
        FR_POLL_RECORD *nr = realloc(g_records, sizeof(FR_POLL_RECORD) * (size_t)cap);
        if (!nr)
            return;
        g_records = nr;
        g_rec_cap = cap;
    }
    g_records[g_nrec] = *rec;
    g_records[g_nrec].step = g_steps - 1;
    g_nrec++;
}

/* ---- scheduling points -------------------------------------------------------------- */
static void stress_point(void)
{
    if (__atomic_load_n(&g_stress_abort, __ATOMIC_ACQUIRE))
        pthread_exit(NULL);
    if (g_noise_permille && (int)(rng_next(&t_rng) % 1000) < g_noise_permille) {
        uint64_t r = rng_next(&t_rng);
        if (r & 1) {
            sched_yield();
        } else {
            int spins = g_hold_spins ? (int)(r >> 8) % g_hold_spins : 0;
            for (volatile int i = 0; i < spins; i++)
                ;
        }
    }
}

void fr_point_args(int op, const volatile void *obj, int size, int64_t a, int64_t b)
{
    if (fr_mode == FR_MODE_CONTROLLED && g_cur) {
        g_cur->arg_size = size;
        g_cur->arg_a = a;
        g_cur->arg_b = b;
        fr_point(op, obj);
        g_cur->arg_size = 0;
        return;
    }
    fr_point(op, obj);
}

void fr_point_sized(int op, const volatile void *obj, int size)
{
    if (fr_mode == FR_MODE_CONTROLLED && g_cur) {
        g_cur->next_size = size;
        fr_point(op, obj);
        g_cur->next_size = 0;
        return;
    }
    fr_point(op, obj);
}

void fr_point(int op, const volatile void *obj)
{
    if (fr_mode == FR_MODE_CONTROLLED) {
        fr_actor *a = g_cur;
        if (!a)
            return;
        a->pending_op = op;
        a->pending_obj = obj;
        a->pending_size = a->next_size ? a->next_size
                          : a->arg_size ? a->arg_size
                          : (op == FR_SP_LOCK || op == FR_SP_UNLOCK) ? (int)sizeof(uintptr_t)
                                                                     : 4;
        if (a->scrub) { /* a report's text (step numbers) lies below: not state */
            fr_stack_scrub(16384);
            a->scrub = 0;
        }
        if (op == FR_SP_LOCK && *(const volatile uintptr_t *)obj == (uintptr_t)a->index + 1) {
            char name[64];
            describe_obj(obj, name, sizeof name);
            fr_report(FR_V_DEADLOCK, fr_pool_flow_of(obj),
                      "spin lock %s acquired twice by the same CPU (cpu%d)", name, a->cpu);
            a->stuck = 1;
        }
        fr_ctx_swap(&a->ctx, &g_main_ctx);
        return;
    }
    if (fr_mode == FR_MODE_STRESS)
        stress_point();
}

void fr_note_write(void)
{
    if (fr_mode == FR_MODE_CONTROLLED && g_cur) {
        g_writes++;
        g_cur->writes++;
        g_wlog[g_writes & (FR_WLOG - 1)] = g_cur->pending_obj;
        g_wlog_actor[g_writes & (FR_WLOG - 1)] = (signed char)g_cur->index;
        g_wlog_size[g_writes & (FR_WLOG - 1)] = g_cur->pending_size;
    }
}

/* An instrumented access of the variant's own code (engine/access.c) to p: a
 * scheduling point when it reaches shared memory in a controlled execution (not
 * the running actor's own stack, not code run outside any actor). Returns 1 when
 * the point was taken. */
int fr_access_point(int op, const volatile void *p, int size)
{
    fr_actor *a = g_cur;
    if (fr_mode != FR_MODE_CONTROLLED || !a ||
        (uintptr_t)p - (uintptr_t)a->stack < (uintptr_t)FR_STACK_SIZE)
        return 0;
    fr_point_sized(op, p, size);
    return 1;
}

int fr_actor_cpu(int actor)
{
    return actor >= 0 && actor < g_nactors ? g_actors[actor].cpu : -1;
}

void fr_note_value(int64_t value)
{
    if (fr_mode == FR_MODE_CONTROLLED && g_cur && g_steps > 0)
        g_trace[g_steps - 1].value = value;
}

static double thread_cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Stop the stress run as timed out (once): a spin or a wait outlived its budget of CPU
 * time with no deadlock cycle to show. */
static void stress_timed_out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void stress_timed_out(const char *fmt, ...)
{
    if (__atomic_exchange_n(&g_stress_abort, 1, __ATOMIC_ACQ_REL) == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g_stress_timeout, sizeof g_stress_timeout, fmt, ap);
        va_end(ap);
    }
    pthread_exit(NULL);
}

const char *fr_stress_timeout(void) { return g_stress_timeout; }

void fr_note_spin(void)
{
    if (fr_mode == FR_MODE_CONTROLLED) {
        if (g_cur)
            g_cur->spins++; /* the loop ends the iteration: spin_yield */
        return;
    }
    if (fr_mode == FR_MODE_STRESS) {
        if ((++t_op_spins & 1023) == 0) {
            double t = thread_cpu_seconds();
            if (t_op_spin_start == 0)
                t_op_spin_start = t;
            else if (t - t_op_spin_start > g_stress_spin_limit)
                /* real threads all run, so a spin that never ends is not provably a
                 * livelock here (controlled mode decides that): a budget, "timed out" */
                stress_timed_out("thread %d spun for %.1f s of its own CPU time inside one "
                                 "callback without finishing", t_actor, t - t_op_spin_start);
        }
        if ((t_op_spins & 63) == 0)
            sched_yield();
        else
            cpu_relax();
    }
}

/* ---- IRQL and lock bookkeeping -------------------------------------------------------- */
int fr_irql_get(void)
{
    if (fr_mode == FR_MODE_STRESS)
        return t_irql;
    return g_cur ? g_cur->irql : g_main_irql;
}

void fr_irql_set(int irql)
{
    if (fr_mode == FR_MODE_STRESS) {
        t_irql = irql;
        return;
    }
    fr_actor *a = g_cur;
    if (!a) {
        g_main_irql = irql;
        return;
    }
    a->irql = irql;
    if (irql >= 2)
        g_cpu_owner[a->cpu] = a->index;
    else if (g_cpu_owner[a->cpu] == a->index)
        g_cpu_owner[a->cpu] = -1;
}

const char *fr_hook_set(const char *hook)
{
    const char *prev;
    if (fr_mode == FR_MODE_STRESS) {
        prev = t_hook;
        t_hook = hook;
        return prev;
    }
    if (!g_cur)
        return NULL;
    prev = g_cur->hook;
    g_cur->hook = hook;
    return prev;
}

const char *fr_current_hook(void)
{
    if (fr_mode == FR_MODE_STRESS)
        return t_hook;
    return g_cur ? g_cur->hook : NULL;
}

static const char *irql_name(int irql)
{
    switch (irql) {
    case 0: return "PASSIVE_LEVEL";
    case 1: return "APC_LEVEL";
    case 2: return "DISPATCH_LEVEL";
    default: return "above DISPATCH_LEVEL";
    }
}

void fr_require_dispatch(const char *call, const volatile void *obj)
{
    int irql = fr_irql_get();
    if (irql >= 2 || fr_mode == FR_MODE_IDLE)
        return;
    char name[64];
    describe_obj(obj, name, sizeof name);
    const char *hook = fr_current_hook();
    fr_report(FR_V_IRQL, fr_pool_flow_of(obj),
              "%s(%s) called at %s in %s: it requires DISPATCH_LEVEL (the caller must "
              "already be at DISPATCH; below it the lock does not keep a DPC off the CPU)",
              call, name, irql_name(irql), hook ? hook : "the core");
}

uintptr_t fr_lock_owner_token(void)
{
    if (fr_mode == FR_MODE_STRESS)
        return (uintptr_t)t_actor + 1;
    return g_cur ? (uintptr_t)g_cur->index + 1 : (uintptr_t)FR_MAX_ACTORS + 100;
}

static void lock_name(const volatile void *l, char *buf, size_t n) { describe_obj(l, buf, n); }

void fr_lock_acquired(const volatile void *lock)
{
    if (fr_mode == FR_MODE_STRESS) {
        if (t_actor >= 0 && t_actor < FR_STRESS_WAITERS)
            __atomic_store_n(&g_waiting_for[t_actor], NULL, __ATOMIC_RELEASE); /* out */
        return;
    }
    if (fr_mode != FR_MODE_CONTROLLED || !g_cur)
        return;
    fr_actor *a = g_cur;
    for (int h = 0; h < a->n_held; h++) {
        const volatile void *held = a->held[h];
        int known = 0;
        for (int e = 0; e < g_nedges; e++) {
            if (g_edges[e][0] == lock && g_edges[e][1] == held) {
                char n1[64], n2[64];
                lock_name(held, n1, sizeof n1);
                lock_name(lock, n2, sizeof n2);
                fr_report(FR_V_DEADLOCK, fr_pool_flow_of(lock),
                          "lock order inversion: cpu%d takes %s then %s; the opposite order was "
                          "taken before",
                          a->cpu, n1, n2);
            }
            if (g_edges[e][0] == held && g_edges[e][1] == lock)
                known = 1;
        }
        if (!known && g_nedges < FR_MAX_LOCK_EDGES) {
            g_edges[g_nedges][0] = held;
            g_edges[g_nedges][1] = lock;
            g_nedges++;
        }
    }
    if (a->n_held < FR_MAX_HELD)
        a->held[a->n_held++] = lock;
    fr_race_acquire(lock);
}

void fr_lock_released(const volatile void *lock)
{
    if (fr_mode != FR_MODE_CONTROLLED || !g_cur)
        return;
    fr_actor *a = g_cur;
    fr_race_release(lock);
    for (int h = a->n_held - 1; h >= 0; h--)
        if (a->held[h] == lock) {
            memmove(&a->held[h], &a->held[h + 1], sizeof(a->held[0]) * (size_t)(a->n_held - h - 1));
            a->n_held--;
            return;
        }
}

/* ---- events ----------------------------------------------------------------------------- */
void fr_event_advance(void)
{
    fr_actor *a = g_cur;
    if (fr_mode != FR_MODE_CONTROLLED || !a || a->event < 0)
        return;
    g_event_done[a->event] = 1;
    g_event_step[a->event] = g_steps - 1;
    fr_race_event_end(a->index, a->event);
    a->event++;
}

static const FR_OP_SPEC *actor_op(const fr_actor *a, int k)
{
    (void)a;
    return &g_sc->ops[k];
}

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

static int is_spin_point(int op) { return op == FR_SP_YIELD || op == FR_SP_STALL; }

/* full: the iteration begins after a yield (the first one begins with the operation
 * and may hold steps before the loop) */
static void iteration_begin(fr_actor *a, int full)
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
static void note_access(fr_actor *a, int op, const volatile void *obj, int size)
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
static void spin_scan(fr_actor *a)
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
static void spin_yield(fr_actor *a)
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
static void spin_resume(fr_actor *a, uint32_t mask)
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

static int pending_writes(const fr_actor *a);

/* Does the bursting actor's next step still repeat its loop? */
static void burst_follow(void)
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

static void op_begin(fr_actor *a, int opi)
{
    a->op_index = opi;
    a->op_steps = 0;
    iteration_begin(a, 0); /* a spin's first iteration starts with the operation */
    a->prev_len = 0;
    a->fruitless = 0;
    fr_race_op_begin(a->index, opi);
    if (opi < 0) { /* the settle poll */
        a->event = g_sc->n_events;
        return;
    }
    const FR_OP_SPEC *op = actor_op(a, opi);
    a->event = op->event;
    fr_irql_set(op->irql);
}

static void op_end(fr_actor *a)
{
    if (a->n_held > 0) {
        char name[64];
        lock_name(a->held[0], name, sizeof name);
        fr_report(FR_V_DEADLOCK, fr_pool_flow_of(a->held[0]),
                  "cpu%d returned from its callback still holding spin lock %s", a->cpu, name);
    }
    if (a->event >= 0) {
        g_event_done[a->event] = 1;
        g_event_step[a->event] = g_steps - 1;
        fr_race_event_end(a->index, a->event);
    }
    a->event = -1;
    fr_irql_set(0);
    /* the callback returned: whatever it spun on, no wait, burst or fruitless count
     * outlives it (the next operation's first step is no spin's next iteration) */
    a->spin_wait = a->burst_ok = a->hopeless = a->dirty = 0;
    a->fruitless = 0;
}

static void actor_entry(void)
{
    fr_actor *a = g_cur;
    if (a->index == g_nactors - 1) {
        fr_stack_scrub(4096);
        op_begin(a, -1);
        fr_harness_settle_poll();
        op_end(a);
    } else {
        const FR_ACTOR_SPEC *as = &g_sc->actors[a->index];
        for (int k = 0; k < as->n_ops; k++) {
            int opi = as->first_op + k;
            if (k > 0) {
                a->op_index = opi;
                fr_point(FR_SP_BEGIN, NULL);
            }
            fr_stack_scrub(4096); /* what the last operation left below is history */
            op_begin(a, opi);
            fr_harness_do_op(a->index, opi);
            op_end(a);
        }
    }
    a->status = A_DONE;
    fr_ctx_swap(&a->ctx, &g_main_ctx);
    abort(); /* a finished actor is never resumed */
}

/* ---- the controlled loop ------------------------------------------------------------------ */
static int is_enabled(fr_actor *a)
{
    if (a->status != A_READY || a->stuck)
        return 0;
    if (g_burst >= 0 && g_burst != a->index)
        return 0;
    int owner = g_cpu_owner[a->cpu];
    if (owner >= 0 && owner != a->index)
        return 0;
    if (a->spin_wait) {
        spin_scan(a);
        if (!a->dirty) {
            if (!a->burst_ok || a->hopeless)
                return 0;
            g_burst_mask |= 1u << a->index;
        }
    }
    switch (a->pending_op) {
    case FR_SP_BEGIN:
        if (a->op_index < 0) { /* settle: after everyone else */
            for (int i = 0; i < g_nactors - 1; i++)
                if (g_actors[i].status != A_DONE)
                    return 0;
            return 1;
        } else {
            const FR_OP_SPEC *op = &g_sc->ops[a->op_index];
            for (int i = 0; i < op->n_after; i++)
                if (!g_event_done[op->after[i]])
                    return 0;
        }
        return 1;
    case FR_SP_LOCK:
        return *(const volatile uintptr_t *)a->pending_obj == 0;
    default:
        return 1;
    }
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
static void pct_init(void)
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

extern int fr_py_pick(int step, uint32_t enabled, int current);

static int pick(uint32_t mask, int current)
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
        int c = fr_py_pick(g_steps, mask, current);
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

/* Nobody can run but some actors wait in a spin whose burst ran out while others
 * could run: now that nobody can, let them burst again (running out is a livelock
 * then). Returns 1 if someone may run. */
static int wake_idle_spinners(void)
{
    int woke = 0;
    for (int i = 0; i < g_nactors; i++) {
        fr_actor *a = &g_actors[i];
        if (a->status == A_READY && !a->stuck && a->spin_wait && !a->burst_ok && !a->hopeless) {
            a->burst_ok = 1;
            woke = 1;
        }
    }
    return woke;
}

static void diagnose_stop(void)
{
    int spinner = -1, blocked = -1;
    for (int i = 0; i < g_nactors; i++) {
        fr_actor *a = &g_actors[i];
        if (a->status == A_DONE)
            continue;
        if (a->spin_wait && !a->stuck && spinner < 0)
            spinner = i;
        else if (blocked < 0)
            blocked = i;
    }
    if (spinner < 0 && blocked < 0)
        return;
    fr_actor *keep = g_cur;
    if (spinner >= 0) {
        fr_actor *s = &g_actors[spinner];
        g_cur = s;
        int preempted = -1;
        for (int i = 0; i < g_nactors; i++)
            if (i != spinner && g_actors[i].status != A_DONE && g_actors[i].cpu == s->cpu)
                preempted = i;
        if (preempted >= 0)
            fr_report(FR_V_LIVELOCK, -1,
                      "cpu%d spins forever: actor %d, which it preempted on the same CPU, "
                      "cannot run until the spin ends (a hang; bugcheck 0x133 in the field)",
                      s->cpu, preempted);
        else
            fr_report(FR_V_LIVELOCK, -1,
                      "cpu%d spins forever: no other CPU can change what it waits for", s->cpu);
    } else {
        fr_actor *b = &g_actors[blocked];
        g_cur = b;
        if (b->stuck)
            ; /* already reported as a double acquire */
        else if (b->pending_op == FR_SP_LOCK) {
            char name[64];
            describe_obj(b->pending_obj, name, sizeof name);
            fr_report(FR_V_DEADLOCK, fr_pool_flow_of(b->pending_obj),
                      "every unfinished CPU is blocked: cpu%d waits for spin lock %s", b->cpu,
                      name);
        } else
            fr_report(FR_V_DEADLOCK, -1, "every unfinished CPU is blocked (cpu%d cannot run)",
                      b->cpu);
    }
    g_cur = keep;
}

static int ensure_capacity(void)
{
    int ev = g_sc->n_events + 1;
    if (ev > g_event_cap) {
        unsigned char *e = realloc(g_event_done, (size_t)ev);
        if (!e)
            return 0;
        g_event_done = e;
        int *es = realloc(g_event_step, sizeof(int) * (size_t)ev);
        if (!es)
            return 0;
        g_event_step = es;
        g_event_cap = ev;
    }
    int steps = g_run->max_steps > 0 ? g_run->max_steps : 100000;
    if (steps + 1 > g_trace_cap) {
        raw_step *t = realloc(g_trace, sizeof(raw_step) * (size_t)(steps + 1));
        if (!t)
            return 0;
        g_trace = t;
        g_trace_cap = steps + 1;
    }
    for (int i = 0; i <= g_sc->n_actors; i++)
        if (!g_actors[i].stack) {
            g_actors[i].stack = malloc(FR_STACK_SIZE);
            if (!g_actors[i].stack)
                return 0;
        }
    if (!pool_reserve((size_t)4 << 20))
        return 0;
    return 1;
}

static int check_spec(void)
{
    if (g_sc->n_actors < 1 || g_sc->n_actors > FR_MAX_ACTORS - 1) {
        set_error(FR_ERR_SPEC, "a scenario has 1 to %d actors, not %d", FR_MAX_ACTORS - 1,
                  g_sc->n_actors);
        return 0;
    }
    for (int i = 0; i < g_sc->n_actors; i++) {
        const FR_ACTOR_SPEC *as = &g_sc->actors[i];
        if (as->cpu < 0 || as->cpu >= FR_SETTLE_CPU || as->first_op < 0 ||
            as->first_op + as->n_ops > g_sc->n_ops) {
            set_error(FR_ERR_SPEC, "actor %d: bad cpu or operation range", i);
            return 0;
        }
    }
    for (int k = 0; k < g_sc->n_ops; k++) {
        const FR_OP_SPEC *op = &g_sc->ops[k];
        int span = (op->kind == FR_OP_CLASSIFY || op->kind == FR_OP_LATE_PACKET) ? 2 : 1;
        if (op->event < 0 || op->event + span > g_sc->n_events || op->n_after < 0 ||
            op->n_after > 8) {
            set_error(FR_ERR_SPEC, "operation %d: bad event numbers", k);
            return 0;
        }
        for (int j = 0; j < op->n_after; j++)
            if (op->after[j] < 0 || op->after[j] >= g_sc->n_events) {
                set_error(FR_ERR_SPEC, "operation %d: waits for unknown event %d", k,
                          op->after[j]);
                return 0;
            }
        if (op->flow < 0 || op->flow >= g_sc->n_flows) {
            if (op->kind != FR_OP_POLL && op->kind != FR_OP_MARK) {
                set_error(FR_ERR_SPEC, "operation %d: unknown flow %d", k, op->flow);
                return 0;
            }
        }
    }
    return 1;
}

static int execute(const FR_SCENARIO_SPEC *sc, const FR_RUN_SPEC *run, uint64_t seed)
{
    g_sc = sc;
    g_run = run;
    g_error = 0;
    g_errtext[0] = 0;
    g_abort = 0;
    g_steps = 0;
    g_nviol = 0;
    g_nrec = 0;
    g_nedges = 0;
    g_writes = 0;
    g_cur = NULL;
    g_seg = g_seg_done = g_order_pos = 0;
    g_burst = -1;
    g_rng = seed_mix(seed);
    fr_mode = FR_MODE_CONTROLLED;
    if (!check_spec())
        return g_error;
    if (!ensure_capacity()) {
        set_error(FR_ERR_RESOURCES, "out of memory");
        return g_error;
    }
    memset(g_event_done, 0, (size_t)sc->n_events + 1);
    for (int e = 0; e <= sc->n_events; e++)
        g_event_step[e] = -1;
    for (int c = 0; c < FR_MAX_CPUS; c++)
        g_cpu_owner[c] = -1;
    pool_reset();
    g_nactors = sc->n_actors + 1;
    if (fr_race_reset(g_nactors, sc->n_events)) {
        set_error(FR_ERR_RESOURCES, "out of memory (the data-race detector)");
        return g_error;
    }
    for (int i = 0; i < g_nactors; i++) {
        fr_actor *a = &g_actors[i];
        unsigned char *stack = a->stack;
        memset(a, 0, sizeof *a);
        a->stack = stack;
        a->index = i;
        a->event = -1;
        a->pending_op = FR_SP_BEGIN;
        if (i < sc->n_actors) {
            a->cpu = sc->actors[i].cpu;
            a->op_index = sc->actors[i].first_op;
            a->status = sc->actors[i].n_ops > 0 ? A_READY : A_DONE;
        } else {
            a->cpu = FR_SETTLE_CPU;
            a->op_index = -1;
            a->status = A_READY;
        }
    }
    if (run->strategy == FR_STRAT_PCT)
        pct_init();
    if (fr_harness_setup(sc) != 0) {
        set_error(FR_ERR_RESOURCES, "the scenario's flows could not be created");
        return g_error;
    }
    int max_steps = run->max_steps > 0 ? run->max_steps : 100000;
    int current = -1, cut = 0;
    int gnode = run->record_states ? fr_graph_state(fr_state_hash(), 1) : -1;
    for (;;) {
        if (g_burst >= 0)
            burst_follow();
        uint32_t mask = 0;
        g_burst_mask = 0;
        for (int i = 0; i < g_nactors; i++)
            if (is_enabled(&g_actors[i]))
                mask |= 1u << i;
        if (g_burst >= 0 && !(mask >> g_burst & 1)) { /* blocked inside its burst */
            g_burst = -1;
            continue;
        }
        if (!mask) {
            if (wake_idle_spinners())
                continue;
            diagnose_stop();
            break;
        }
        if (g_steps >= max_steps) {
            g_cur = current >= 0 ? &g_actors[current] : NULL;
            fr_report(FR_V_LIVELOCK, -1, "no end after %d scheduling steps", max_steps);
            g_cur = NULL;
            break;
        }
        int c = pick(mask, current);
        if (c < 0) { /* cut short by the strategy (a redundant dfs branch) or an error */
            cut = 1;
            break;
        }
        fr_actor *a = &g_actors[c];
        raw_step *st = &g_trace[g_steps++];
        st->actor = c;
        st->op = a->pending_op;
        st->event = a->event >= 0 ? a->event
                    : (a->op_index >= 0 ? g_sc->ops[a->op_index].event : g_sc->n_events);
        st->obj = a->pending_obj;
        st->size = a->pending_size;
        st->value = 0;
        st->enabled = mask;
        if (g_step_log_fd >= 0) { /* survives a crash of the variant: see fr_set_step_log */
            unsigned char who = (unsigned char)c;
            if (write(g_step_log_fd, &who, 1) != 1)
                g_step_log_fd = -1;
        }
        if (!a->started) {
            a->started = 1;
            fr_ctx_make(&a->ctx, a->stack, FR_STACK_SIZE, actor_entry);
        }
        int op_index = a->op_index, owned = g_cpu_owner[a->cpu] == c;
        int forced = g_burst == c;
        a->woke = 0;
        if (a->spin_wait)
            spin_resume(a, mask);
        uint64_t writes = g_writes;
        g_cur = a;
        current = c;
        fr_ctx_swap(&g_main_ctx, &a->ctx);
        g_cur = NULL;
        note_access(a, st->op, st->obj, st->size);
        /* a yield that was its operation's last step (a bounded retry that gave up) ends
         * no spin: the CPU is not waiting, it returned from its callback */
        if (is_spin_point(st->op) && a->status == A_READY && a->pending_op != FR_SP_BEGIN)
            spin_yield(a);
        a->op_steps++;
        st->wrote = g_writes != writes;
        if (run->strategy == FR_STRAT_DFS)
            fr_dfs_stepped(g_steps - 1, c, st->op, st->obj, op_index, g_writes != writes, owned,
                           forced);
        if (gnode >= 0) {
            int next = fr_graph_state(fr_state_hash(), 0);
            fr_graph_link(gnode, next, c, st->op, st->obj);
            gnode = next;
        }
        if (g_abort)
            break;
    }
    int quiescent = 1;
    for (int i = 0; i < g_nactors; i++)
        if (g_actors[i].status != A_DONE)
            quiescent = 0;
    if (quiescent && !g_error)
        fr_harness_check_quiescent();
    if (gnode >= 0 && !cut) /* where executions end, not where a search cut one short */
        fr_graph_terminal(gnode, fr_violation_kinds());
    fr_mode = FR_MODE_IDLE;
    return g_error;
}

/* ---- what the explorer sees (fr_sched.h) ---------------------------------------------- */
int fr_engine_execute(const FR_SCENARIO_SPEC *sc, const FR_RUN_SPEC *run, uint64_t seed)
{
    return execute(sc, run, seed);
}

int fr_sched_nactors(void) { return g_nactors; }

/* Would the actor's pending operation write, in the current state? (1 when unknown) */
static int pending_writes(const fr_actor *a)
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
    out->held = a->held;
    out->woke_key_sizes = a->woke_key_size;
}

uint32_t fr_sched_burst_mask(void) { return g_burst_mask; }

int fr_sched_step_size(int step) { return step >= 0 && step < g_steps ? g_trace[step].size : 4; }

int fr_sched_event_step(int ev)
{
    return ev >= 0 && g_sc && ev <= g_sc->n_events ? g_event_step[ev] : -1;
}

void fr_sched_fail(int code, const char *text) { set_error(code, "%s", text); }

int fr_pool_block_index(const volatile void *p)
{
    fr_block *b = block_of(p);
    return b ? (int)(b - g_blocks) : -1;
}

uint32_t fr_violation_kinds(void)
{
    uint32_t k = 0;
    for (int v = 0; v < g_nviol; v++)
        k |= 1u << (g_viol[v].kind & 31);
    return k;
}

int fr_trace_bulk(int *actors, uint32_t *enabled, unsigned char *wrote, int cap)
{
    int n = g_steps < cap ? g_steps : cap;
    for (int i = 0; i < n; i++) {
        if (actors)
            actors[i] = g_trace[i].actor;
        if (enabled)
            enabled[i] = g_trace[i].enabled;
        if (wrote)
            wrote[i] = g_trace[i].wrote;
    }
    return g_steps;
}

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

uint64_t fr_state_hash(void)
{
    static int ts_offset = -2;
    if (ts_offset == -2)
        ts_offset = fr_flow_field_offset("Timestamp");
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
        h = hmix(h, (uint64_t)a->op_steps | (uint64_t)a->n_held << 32);
    }
    return hmix(h, fr_violation_kinds());
}

/* The stateful search's fingerprint (engine/stateful.c): everything of the execution
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

static void fp2_bytes(uint64_t h[2], const volatile unsigned char *p, size_t n, long skip)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        if ((long)i == skip)
            continue;
        uint64_t w;
        memcpy(&w, (const void *)(p + i), 8);
        fp2(h, w); /* addresses are the same in every execution of one process */
    }
    for (; i < n; i++)
        fp2(h, p[i]);
}

/* Has another actor written key k of a's iteration since a's latest access to it? */
static int key_written(const fr_actor *a, int k)
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

static size_t g_fp_depth; /* the deepest live stack a fingerprint has read */

/* Zero the part of every actor's stack that fingerprints read: a slot a frame leaves
 * uninitialised then holds the same (nothing) in every execution, not what an earlier
 * execution left there. */
void fr_sched_clear_stacks(void)
{
    size_t depth = g_fp_depth + 4096 < FR_STACK_SIZE ? g_fp_depth + 4096 : FR_STACK_SIZE;
    for (int i = 0; i <= FR_MAX_ACTORS; i++)
        if (g_actors[i].stack)
            memset(g_actors[i].stack + FR_STACK_SIZE - depth, 0, depth);
}

void fr_state_fingerprint(uint64_t h[2], const unsigned char *spins)
{
    static int ts_offset = -2;
    if (ts_offset == -2)
        ts_offset = fr_flow_field_offset("Timestamp");
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
    uint64_t edges = 0; /* a set: the order they were seen in is history */
    for (int e = 0; e < g_nedges; e++)
        edges += hmix((uint64_t)(uintptr_t)g_edges[e][0], (uint64_t)(uintptr_t)g_edges[e][1]);
    fp2(h, edges);
    fp2(h, (uint64_t)(g_burst + 1) | (uint64_t)g_burst_alone << 8 | (uint64_t)g_burst_yields << 16);
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
            fp2(h, (uint64_t)a->key_size[k] | (uint64_t)(!a->dirty && key_written(a, k)) << 32);
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
                fp2_bytes(h, sp, live, -1);
                if (live > g_fp_depth)
                    g_fp_depth = live;
            }
        }
    }
    fp2(h, fr_violation_kinds());
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
    for (int g = 0; g < g_nglobals; g++)
        if ((const volatile char *)p >= g_globals[g].p &&
            (const volatile char *)p < g_globals[g].p + g_globals[g].size) {
            *kind = FR_OBJ_GLOBAL;
            *index = g;
            *offset = (int)((const volatile char *)p - g_globals[g].p);
            return;
        }
}

int fr_run(const FR_SCENARIO_SPEC *scenario, const FR_RUN_SPEC *run)
{
    return execute(scenario, run, run->seed);
}

int fr_run_batch(const FR_SCENARIO_SPEC *scenario, const FR_RUN_SPEC *run, uint64_t first_seed,
                 int executions, FR_BATCH_RESULT *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < executions; i++) {
        uint64_t seed = first_seed + (uint64_t)i;
        int rc = execute(scenario, run, seed);
        out->executions++;
        out->steps += g_steps;
        if (rc != FR_OK) {
            out->errors++;
            if (rc == FR_ERR_SPEC || rc == FR_ERR_RESOURCES)
                return rc;
            continue;
        }
        if (g_nviol)
            out->violating++;
        int seen[16] = {0};
        for (int v = 0; v < g_nviol; v++) {
            int k = g_viol[v].kind & 15;
            if (seen[k])
                continue;
            seen[k] = 1;
            if (out->by_kind[k]++ == 0)
                out->first_seed[k] = seed;
        }
    }
    return FR_OK;
}

/* ---- results ------------------------------------------------------------------------ */
int fr_steps(void) { return g_steps; }

void fr_set_step_log(int fd) { g_step_log_fd = fd; }

/* Spin steps (YieldProcessor, KeStallExecutionProcessor) of the last execution:
 * what a caller that skips the step trace needs of it. */
int fr_spin_steps(void)
{
    int n = 0;
    for (int i = 0; i < g_nactors; i++)
        n += g_actors[i].spins;
    return n;
}

void fr_step(int i, FR_STEP *out)
{
    memset(out, 0, sizeof *out);
    if (i < 0 || i >= g_steps)
        return;
    const raw_step *s = &g_trace[i];
    out->actor = s->actor;
    out->op = s->op;
    out->event = s->event;
    out->value = s->value;
    out->obj_kind = FR_OBJ_NONE;
    out->obj_index = -1;
    if (!s->obj)
        return;
    fr_block *b = block_of(s->obj);
    if (b) {
        out->obj_kind = FR_OBJ_POOL;
        out->obj_index = b->flow;
        out->obj_offset = (int)((const unsigned char *)s->obj - g_arena - b->off);
        return;
    }
    for (int g = 0; g < g_nglobals; g++)
        if ((const volatile char *)s->obj >= g_globals[g].p &&
            (const volatile char *)s->obj < g_globals[g].p + g_globals[g].size) {
            out->obj_kind = FR_OBJ_GLOBAL;
            out->obj_index = g;
            out->obj_offset = (int)((const volatile char *)s->obj - g_globals[g].p);
            return;
        }
}

int fr_violations(void) { return g_nviol; }

void fr_violation(int i, FR_VIOLATION *out)
{
    if (i >= 0 && i < g_nviol)
        *out = g_viol[i];
    else
        memset(out, 0, sizeof *out);
}

int fr_records(void) { return g_nrec; }

void fr_record(int i, FR_POLL_RECORD *out)
{
    if (i >= 0 && i < g_nrec)
        *out = g_records[i];
    else
        memset(out, 0, sizeof *out);
}

/* ---- stress mode support (used by core/stress.c) --------------------------------------- */
int fr_stress_prepare(size_t arena_bytes, int noise_permille, int hold_spins, double spin_limit)
{
    g_sc = NULL;
    g_run = NULL;
    g_nviol = 0;
    g_nrec = 0;
    __atomic_store_n(&g_stress_abort, 0, __ATOMIC_RELEASE);
    g_noise_permille = noise_permille;
    g_hold_spins = hold_spins;
    g_stress_spin_limit = spin_limit > 0 ? spin_limit : 10.0;
    g_stress_timeout[0] = 0;
    for (int i = 0; i < FR_STRESS_WAITERS; i++)
        __atomic_store_n(&g_waiting_for[i], NULL, __ATOMIC_RELEASE);
    if (!pool_reserve(arena_bytes))
        return 0;
    pool_reset();
    fr_mode = FR_MODE_STRESS;
    return 1;
}

void fr_stress_thread_init(int index, uint64_t seed)
{
    t_actor = index;
    t_rng = seed_mix(seed * 1000003ULL + (uint64_t)index);
    t_irql = 0;
}

void fr_stress_op_begin(int irql)
{
    t_irql = irql;
    t_op_spins = 0;
    t_op_spin_start = 0;
}

int fr_stress_aborted(void) { return __atomic_load_n(&g_stress_abort, __ATOMIC_ACQUIRE); }

/* The thread that holds a spin lock (its owner token is the thread index + 1), or -1. */
static int stress_lock_owner(const volatile void *lock)
{
    uintptr_t token = __atomic_load_n((const volatile uintptr_t *)lock, __ATOMIC_ACQUIRE);
    if (token == 0 || token > FR_STRESS_WAITERS)
        return -1;
    return (int)token - 1;
}

/* Follow the waits-for graph from `me` (waiting for `lock`): the lock's owner, the lock
 * that owner waits for, its owner, ... Returns the length of the cycle back to `me`
 * (threads in `who`, the locks they wait for in `what`, their wait counts in `gen`), or 0
 * when the chain ends at a thread that is not waiting for a lock. */
static int stress_cycle(int me, int *who, const volatile void **what, unsigned *gen)
{
    int n = 0, t = me;
    while (n < 64) {
        const volatile void *l = __atomic_load_n(&g_waiting_for[t], __ATOMIC_ACQUIRE);
        if (!l)
            return 0;
        who[n] = t;
        what[n] = l;
        gen[n] = __atomic_load_n(&g_wait_gen[t], __ATOMIC_ACQUIRE);
        n++;
        int owner = stress_lock_owner(l);
        if (owner < 0)
            return 0;
        if (owner == me)
            return n;
        for (int k = 0; k < n; k++)
            if (who[k] == owner)
                return 0; /* a cycle that does not include me: its own threads report it */
        t = owner;
    }
    return 0;
}

void fr_stress_lock_wait(const volatile void *lock, unsigned spins)
{
    static __thread double wait_start;
    static __thread const volatile void *wait_lock;
    if (__atomic_load_n(&g_stress_abort, __ATOMIC_ACQUIRE))
        pthread_exit(NULL);
    int me = t_actor;
    if (spins == 64 || wait_lock != lock) {
        wait_start = thread_cpu_seconds();
        wait_lock = lock;
        if (me >= 0 && me < FR_STRESS_WAITERS) {
            __atomic_add_fetch(&g_wait_gen[me], 1, __ATOMIC_ACQ_REL);
            __atomic_store_n(&g_waiting_for[me], lock, __ATOMIC_RELEASE);
        }
        return;
    }
    if (me >= 0 && me < FR_STRESS_WAITERS && spins % 1024 == 0) {
        /* A deadlock is a cycle in the waits-for graph: I wait for a lock whose owner
         * waits for a lock whose owner ... is me. A thread spinning for a lock releases
         * nothing, so a cycle seen twice, with every wait in it the same one (same wait
         * counts) both times, was there all the time between and never dissolves. */
        int who[64], who2[64];
        const volatile void *what[64], *what2[64];
        unsigned gen[64], gen2[64];
        int n = stress_cycle(me, who, what, gen);
        if (n > 0) {
            for (int k = 0; k < 200; k++)
                sched_yield();
            int n2 = stress_cycle(me, who2, what2, gen2);
            int same = n2 == n;
            for (int k = 0; same && k < n; k++)
                same = who[k] == who2[k] && what[k] == what2[k] && gen[k] == gen2[k];
            if (same) {
                if (__atomic_exchange_n(&g_stress_abort, 1, __ATOMIC_ACQ_REL) == 0) {
                    char text[256];
                    size_t len = 0;
                    for (int k = 0; k < n && len < sizeof text; k++) {
                        char name[64];
                        describe_obj(what[k], name, sizeof name);
                        int r = snprintf(text + len, sizeof text - len,
                                         "%sthread %d waits for %s (held by thread %d)",
                                         k ? "; " : "", who[k], name, who[(k + 1) % n]);
                        if (r > 0)
                            len += (size_t)r;
                    }
                    fr_report(FR_V_DEADLOCK, fr_pool_flow_of(lock),
                              "a waits-for cycle of %d threads: %s", n, text);
                }
                pthread_exit(NULL);
            }
        }
    }
    if ((spins & 1023) == 0 && thread_cpu_seconds() - wait_start > g_stress_spin_limit) {
        char name[64];
        describe_obj(lock, name, sizeof name);
        int owner = stress_lock_owner(lock);
        stress_timed_out("thread %d waited for spin lock %s for %.1f s of its own CPU time; "
                         "its owner (thread %d) is not waiting for a lock this thread holds",
                         me, name, thread_cpu_seconds() - wait_start, owner);
    }
}
void fr_stress_abort(void) { __atomic_store_n(&g_stress_abort, 1, __ATOMIC_RELEASE); }
void fr_stress_finish(void) { fr_mode = FR_MODE_IDLE; }
