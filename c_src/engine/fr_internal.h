/*
 * fr_internal.h - the engine's shared state, private to engine/: the actors of a
 * controlled execution, its trace, the pool's blocks, the stress runtime's
 * per-thread state, and the helpers the engine's files call in one another.
 * Neither the shim's users, nor the core, nor the explorer include it (they see
 * fr_engine.h and fr_sched.h).
 *
 * Which file owns what (each one defines the state it names here):
 *   engine.c          the controlled loop: execution state, events, an actor's
 *                     operations, enabledness, the end of an execution, fr_run
 *   points.c          the scheduling points the shim and access.c call
 *   spin.c            spin iterations, waits and bursts
 *   strategy.c        who runs next: schedule, random, event order, pct, dfs, callback
 *   locks.c           IRQL, the hook being run, spin-lock bookkeeping, lock order
 *   pool.c            the pool, memory checks, names of memory (blocks, globals)
 *   results.c         violations, poll records, the step trace as results
 *   sched_view.c      what the explorer sees of the loop, and the state hash
 *   stress_runtime.c  stress mode: noise, budgets, the waits-for graph
 */
#ifndef FLOWRACE_FR_INTERNAL_H
#define FLOWRACE_FR_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "fr_ctx.h"
#include "fr_engine.h"
#include "fr_model.h"
#include "fr_sched.h"

/* Link names: the engine's files share the state and helpers below under short names
 * (g_steps, pick, ...); in the objects they are fr_eng_*, so that a proposal linked
 * into the same module may define any name it likes without a clash. Only the
 * engine's files include this header. */
#define block_of(...) fr_eng_block_of(__VA_ARGS__)
#define burst_follow(...) fr_eng_burst_follow(__VA_ARGS__)
#define describe_obj(...) fr_eng_describe_obj(__VA_ARGS__)
#define g_abort fr_eng_g_abort
#define g_actors fr_eng_g_actors
#define g_arena fr_eng_g_arena
#define g_arena_cap fr_eng_g_arena_cap
#define g_arena_used fr_eng_g_arena_used
#define g_blocks fr_eng_g_blocks
#define g_blocks_cap fr_eng_g_blocks_cap
#define g_burst fr_eng_g_burst
#define g_burst_alone fr_eng_g_burst_alone
#define g_burst_mask fr_eng_g_burst_mask
#define g_burst_yields fr_eng_g_burst_yields
#define g_cpu_owner fr_eng_g_cpu_owner
#define g_cur fr_eng_g_cur
#define g_event_done fr_eng_g_event_done
#define g_event_step fr_eng_g_event_step
#define g_globals fr_eng_g_globals
#define g_state fr_eng_g_state
#define g_nstate fr_eng_g_nstate
#define g_lock fr_eng_g_lock
#define g_main_ctx fr_eng_g_main_ctx
#define g_main_irql fr_eng_g_main_irql
#define g_model fr_eng_g_model
#define g_nactors fr_eng_g_nactors
#define g_nblocks fr_eng_g_nblocks
#define g_nedges fr_eng_g_nedges
#define g_nglobals fr_eng_g_nglobals
#define g_nrec fr_eng_g_nrec
#define g_nviol fr_eng_g_nviol
#define g_order_pos fr_eng_g_order_pos
#define g_pct_cps fr_eng_g_pct_cps
#define g_pct_ncps fr_eng_g_pct_ncps
#define g_rec_cap fr_eng_g_rec_cap
#define g_rng fr_eng_g_rng
#define g_run fr_eng_g_run
#define g_sc fr_eng_g_sc
#define g_seg fr_eng_g_seg
#define g_seg_done fr_eng_g_seg_done
#define g_step_log_fd fr_eng_g_step_log_fd
#define g_steps fr_eng_g_steps
#define g_stress_spin_limit fr_eng_g_stress_spin_limit
#define g_trace fr_eng_g_trace
#define g_viol fr_eng_g_viol
#define g_waiting_for fr_eng_g_waiting_for
#define g_wlog fr_eng_g_wlog
#define g_wlog_actor fr_eng_g_wlog_actor
#define g_wlog_size fr_eng_g_wlog_size
#define g_writes fr_eng_g_writes
#define is_spin_point(...) fr_eng_is_spin_point(__VA_ARGS__)
#define iteration_begin(...) fr_eng_iteration_begin(__VA_ARGS__)
#define lock_edges_digest(...) fr_eng_lock_edges_digest(__VA_ARGS__)
#define lock_name(...) fr_eng_lock_name(__VA_ARGS__)
#define note_access(...) fr_eng_note_access(__VA_ARGS__)
#define pct_init(...) fr_eng_pct_init(__VA_ARGS__)
#define pending_writes(...) fr_eng_pending_writes(__VA_ARGS__)
#define pick(...) fr_eng_pick(__VA_ARGS__)
#define pool_reserve(...) fr_eng_pool_reserve(__VA_ARGS__)
#define pool_reset(...) fr_eng_pool_reset(__VA_ARGS__)
#define rng_next(...) fr_eng_rng_next(__VA_ARGS__)
#define seed_mix(...) fr_eng_seed_mix(__VA_ARGS__)
#define set_error(...) fr_eng_set_error(__VA_ARGS__)
#define spin_key_written(...) fr_eng_spin_key_written(__VA_ARGS__)
#define spin_resume(...) fr_eng_spin_resume(__VA_ARGS__)
#define spin_scan(...) fr_eng_spin_scan(__VA_ARGS__)
#define spin_yield(...) fr_eng_spin_yield(__VA_ARGS__)
#define stress_point(...) fr_eng_stress_point(__VA_ARGS__)
#define stress_timed_out(...) fr_eng_stress_timed_out(__VA_ARGS__)
#define t_actor fr_eng_t_actor
#define t_hook fr_eng_t_hook
#define t_irql fr_eng_t_irql
#define t_op_spin_start fr_eng_t_op_spin_start
#define t_op_spins fr_eng_t_op_spins
#define thread_cpu_seconds(...) fr_eng_thread_cpu_seconds(__VA_ARGS__)

#define FR_STACK_SIZE (256 * 1024)
#define FR_MAX_CPUS 64
#define FR_MAX_VIOLATIONS 64
#define FR_MAX_HELD 8
#define FR_MAX_LOCK_EDGES 64
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
    int pending_list;   /* a list operation's list (fr_pool_list_of), else -1 */
    uint64_t blocks;    /* pool blocks the running step touched (bit: index % 64) */
    int next_size;      /* fr_point_sized: the size of the point being taken */
    /* spinning (see spin.c) */
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
    int list;           /* a list operation's list (fr_pool_list_of), else -1 */
    uint64_t blocks;    /* pool blocks its checked accesses touched (bit: index % 64) */
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

typedef struct fr_region {
    volatile char *p;
    size_t size;
} fr_region;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* Declared hidden: one module's own, reached without the GOT. (Not the system and
 * sanitizer headers above: their functions are defined elsewhere.) */
#pragma GCC visibility push(hidden)

/* ---- execution state (engine.c) ---------------------------------------------- */
extern const FR_SCENARIO_SPEC *g_sc;
extern const FR_RUN_SPEC *g_run;
extern fr_actor g_actors[FR_MAX_ACTORS + 1];
extern int g_nactors; /* including the settle actor */
extern fr_ctx g_main_ctx;
extern fr_actor *g_cur;
extern int g_steps;
extern raw_step *g_trace;
extern int g_cpu_owner[FR_MAX_CPUS];
extern uint64_t g_writes;
extern const volatile void *g_wlog[FR_WLOG]; /* object of write number w, at w % FR_WLOG */
extern signed char g_wlog_actor[FR_WLOG];
extern int g_wlog_size[FR_WLOG];
extern int g_burst;           /* the actor running a burst, or -1 */
extern int g_burst_alone;     /* nobody else could run when it began */
extern int g_burst_yields;
extern uint32_t g_burst_mask; /* actors whose next step would begin a burst */
extern unsigned char *g_event_done;
extern int *g_event_step; /* step during which each event ended (explorer's happens-before) */
extern int g_abort;
extern int g_step_log_fd;
extern int g_main_irql; /* IRQL of code run outside any actor (setup, checks) */
extern const fr_model *g_model; /* the model executions run (fr_model.h) */
void set_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- strategies (strategy.c) ------------------------------------------------------ */
extern uint64_t g_rng;
extern int g_seg, g_seg_done, g_order_pos, g_pct_cps[16], g_pct_ncps;
uint64_t rng_next(uint64_t *s);
uint64_t seed_mix(uint64_t seed);
void pct_init(void);
int pick(uint32_t mask, int current);

/* ---- spins (spin.c) ------------------------------------------------------------- */
int is_spin_point(int op);
void iteration_begin(fr_actor *a, int full);
void note_access(fr_actor *a, int op, const volatile void *obj, int size);
void spin_scan(fr_actor *a);
void spin_yield(fr_actor *a);
void spin_resume(fr_actor *a, uint32_t mask);
void burst_follow(void);
int spin_key_written(const fr_actor *a, int k);

/* ---- what the explorer sees (sched_view.c) ----------------------------------------- */
int pending_writes(const fr_actor *a);

/* ---- IRQL and locks (locks.c) ------------------------------------------------------- */
extern int g_nedges;
uint64_t lock_edges_digest(void);
void lock_name(const volatile void *l, char *buf, size_t n);

/* ---- pool and names of memory (pool.c) ---------------------------------------------- */
extern fr_global g_globals[FR_MAX_GLOBALS];
extern int g_nglobals;
extern fr_region g_state[FR_MAX_GLOBALS]; /* fr_register_state */
extern int g_nstate;
extern unsigned char *g_arena;
extern size_t g_arena_cap, g_arena_used;
extern fr_block *g_blocks;
extern int g_nblocks, g_blocks_cap;
int pool_reserve(size_t bytes);
void pool_reset(void);
fr_block *block_of(const volatile void *p);
void describe_obj(const volatile void *p, char *buf, size_t n);

/* ---- checkpoints of the stateful search (checkpoint.c) -------------------------------- */
int fr_ckpt_begin(int dfs); /* as an execution begins: 1 if it takes checkpoints */
void fr_ckpt_save(uint32_t mask, int current, int gnode, uint64_t path); /* at a point */
void fr_ckpt_stack(int step, const fr_actor *a);               /* after a step */
void fr_ckpt_executed(void);                                    /* at an execution's end */
int fr_ckpt_restore(int depth, uint32_t *mask, int *current, int *gnode, uint64_t *path);
int fr_ckpt_checking(void); /* the step to compare a replay with its checkpoint at, or 0 */
int fr_ckpt_compare(int depth, uint32_t mask, int current, int gnode, char *why, size_t n);

/* ---- results (results.c) ----------------------------------------------------------- */
extern FR_VIOLATION g_viol[FR_MAX_VIOLATIONS];
extern int g_nviol;
extern int g_nrec, g_rec_cap;

/* ---- stress mode (stress_runtime.c) --------------------------------------------------- */
extern pthread_mutex_t g_lock;
extern double g_stress_spin_limit;
#define FR_STRESS_WAITERS 1024
extern const volatile void *g_waiting_for[FR_STRESS_WAITERS]; /* read and written with __atomic */
extern __thread int t_actor;
extern __thread int t_irql;
extern __thread const char *t_hook;
extern __thread long t_op_spins;
extern __thread double t_op_spin_start;
void stress_point(void);
double thread_cpu_seconds(void);
void stress_timed_out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#pragma GCC visibility pop

#endif
