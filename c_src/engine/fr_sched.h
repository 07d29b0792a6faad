/*
 * fr_sched.h - what the explorer (explore.c) sees of the controlled loop
 * (engine.c, sched_view.c), and the hooks the loop calls when the explorer
 * drives it.
 * Internal to the engine: neither variants nor the core include it.
 */
#ifndef FLOWRACE_FR_SCHED_H
#define FLOWRACE_FR_SCHED_H

#include <stdint.h>
#include "fr_api.h"

/* One actor as the scheduler sees it at a scheduling point. */
typedef struct fr_actor_view {
    int status;      /* 0 idle, 1 ready, 2 done */
    int cpu;
    int owns_cpu;    /* it runs at DISPATCH_LEVEL on its CPU: nobody else there can run */
    int pending_op;  /* FR_SP_* it performs when it next runs */
    const volatile void *pending_obj;
    int pending_size;  /* bytes of pending_obj it touches */
    int pending_list;  /* a pending list operation's list (fr_pool_list_of), else -1 */
    int op_index;    /* scenario operation it is in (or about to begin); -1 settle */
    int pending_writes; /* the pending operation would change memory now (1 if unknown) */
    int spin_wait;   /* it waits in a spin: its next step ends the wait (or begins a burst) */
    int n_keys;      /* the words whose writes end that wait (-1: any write, a wide spin) */
    const volatile void *const *keys;
    const int *key_sizes;       /* bytes accessed at each key */
    int woke;        /* its last step ended a wait: 1 after a write, 2 beginning a burst */
    int n_woke;      /* the words that wait was on (-1: any write) */
    const volatile void *const *woke_keys;
    int n_held;      /* the spin locks it holds now (after its last step) */
    int stuck;       /* its last step was a lock finding (engine.c, lock_step_fails): a
                        double acquire that took nothing, a release that released
                        nothing; it never runs again */
    const volatile void *const *held;
    const int *woke_key_sizes;
} fr_actor_view;

#define FR_VIEW_DONE 2
#define FR_MAX_GLOBALS 32 /* registered globals: tables, locks (pool.c) */

/* engine.c (fr_engine_execute), sched_view.c, pool.c, results.c */
int fr_engine_execute(const FR_SCENARIO_SPEC *sc, const FR_RUN_SPEC *run, uint64_t seed);
int fr_sched_nactors(void);
void fr_sched_view(int actor, fr_actor_view *out);
int fr_sched_event_step(int event);     /* step at which the event ended, -1 if not yet */
void fr_sched_fail(int code, const char *text);
void fr_error_clear(void);                /* no error text left from an earlier run */
uint32_t fr_sched_burst_mask(void);     /* enabled actors whose next step would begin a burst */
int fr_sched_step_size(int step);       /* bytes the step's object access touched */
int fr_sched_step_list(int step);       /* a list operation's list, else -1 */
uint64_t fr_sched_step_blocks(int step); /* pool blocks its checked accesses touched (% 64) */
int fr_pool_list_of(const volatile void *p); /* the registered global a list's head is in */
int fr_pool_block_linked(int block);    /* the pool block is linked into a list */
int fr_pool_block_index(const volatile void *p); /* -1 outside the pool */
uint64_t fr_stable_address(uintptr_t a); /* the same in every run of one build */
uint32_t fr_violation_kinds(void);
uint64_t fr_state_hash(void);
uint64_t fr_end_hash(void); /* a final state's, without its history */
/* the stateful search's (stateful.c); spins: per scenario operation (then the settle
 * poll), whether it was seen to yield */
void fr_state_fingerprint(uint64_t h[2], const unsigned char *spins);
void fr_sched_clear_stacks(int n_actors); /* before each of its executions */
size_t fr_sched_stack_depth(void); /* the bytes at the top of each stack that it clears */
void fr_sched_stack_changed(int actor); /* its stack changed (it ran): hash it anew */
void fr_sched_stacks_changed(void);     /* every stack may have changed */
size_t fr_sched_scrub_size(size_t asked);   /* of what fr_stack_scrub clears, what frames used */
void fr_describe_obj(const volatile void *p, int *kind, int *index, int *offset);

/* The 64-bit finaliser of MurmurHash3: the visited set's and the state graph's slots. */
static inline uint64_t fr_fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xFF51AFD7ED558CCDULL;
    k ^= k >> 33;
    k *= 0xC4CEB9FE1A85EC53ULL;
    k ^= k >> 33;
    return k;
}

/* explore.c: the depth-first explorer's strategy (FR_STRAT_DFS) */
int fr_dfs_pick(int step, uint32_t enabled, int current);
void fr_dfs_stepped(int step, int actor, int op, const volatile void *obj, int op_index,
                    int wrote, int owned_cpu, int forced);

/* stateful.c: the visited set of the stateful search (FR_DFS_SPEC.stateful) */
/* What the steps of one actor below a state touch, over-approximated (explore.c builds
 * it, stateful.c keeps one per finished state): memory words read and written (bit
 * (hash of the word) % 256), apart for the steps taken while holding a spin lock (one
 * slot per lock: they cannot race with a step that holds it too), the CPUs it runs on,
 * and whether it waits on "the world" or writes at all. */
#define FR_TOUCH_LOCKS 3
typedef struct fr_touch {
    uint64_t r[4], w[4];
    uint64_t cpus;
    uint32_t flags;
    uint32_t nlocks;
    uintptr_t lock[FR_TOUCH_LOCKS], lock2[FR_TOUCH_LOCKS]; /* a slot's locks (0: none) */
    uint64_t lr[FR_TOUCH_LOCKS][4], lw[FR_TOUCH_LOCKS][4];
} fr_touch;
uint32_t fr_stateful_summary_intern(const fr_touch *t, int width); /* width actors */
const fr_touch *fr_stateful_summary(uint32_t id);
void fr_stateful_start(int n_ops);       /* a new search */
void fr_stateful_reset(void);            /* forget the visited states (a restart) */
void fr_stateful_running(int on);        /* its executions run between 1 and 0 */
void fr_stateful_execution(void);        /* before each of them */
int fr_stateful_visit(void);            /* 1: a new state (now visited), 0: seen before */
int fr_stateful_visit_id(int64_t *id);  /* the same, and the state's number */
void fr_stateful_finish(int64_t id, uint32_t summary); /* explored below, what it touches */
int fr_stateful_finished(int64_t id, uint32_t *summary); /* 0: still on the search path */
int fr_stateful_note(int op, const volatile void *obj, int size, int op_index); /* 1: again */
int64_t fr_stateful_states(void);
int64_t fr_stateful_bytes(void);
int fr_stateful_objs_count(void);        /* the variant's objects, for a checkpoint */
size_t fr_stateful_objs_bytes(void);
void fr_stateful_objs_save(unsigned char *out);
void fr_stateful_objs_load(const unsigned char *in);

/* checkpoint.c: checkpoints of the stateful search's executions (resume, not replay) */
static inline uint64_t fr_path_step(uint64_t h, int actor) /* the path's hash, a step on */
{
    return fr_fmix64(h ^ ((uint64_t)actor + 1) * 0x9E3779B97F4A7C15ULL);
}
#define FR_PATH_START 0x6C62272E07BB0142ULL
void fr_ckpt_reset(void);                 /* a new search or a restart: none is valid */
void fr_ckpt_arm(int on, int from);       /* before an execution: take them from step from */
int fr_ckpt_deepest(int target, const uint64_t *path); /* path[d]: hash before step d */
void fr_ckpt_check(int depth); /* > 0: replay this execution, compare at depth (a test) */
/* an execution of the search resumed at a checkpoint (one fr_ckpt_deepest named) */
int fr_engine_resume(const FR_SCENARIO_SPEC *sc, const FR_RUN_SPEC *run, int depth);

/* stategraph.c: the state graph, fed by the loop when FR_RUN_SPEC.record_states is set */
int fr_graph_state(uint64_t hash, int initial);
void fr_graph_link(int from, int to, int actor, int op, const volatile void *obj);
void fr_graph_terminal(int node, uint32_t kinds, uint64_t end_hash);

#endif
