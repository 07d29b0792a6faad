/*
 * fr_explore.h - the depth-first explorer's state and shared helpers, private to its
 * files (the engine's other files see fr_sched.h):
 *   explore.c       the search (fr_dfs_*): choices, the race analysis, backtracking,
 *                   shards, witnesses
 *   footprint.c     what a step touches, and when two steps are dependent or co-enabled
 *   stateful_por.c  the stateful search's reduction: summaries of what the steps below
 *                   a visited state touch, and the races a cut there must reverse
 *   count.c         the interleavings an execution stands for
 */
#ifndef FLOWRACE_FR_EXPLORE_H
#define FLOWRACE_FR_EXPLORE_H

#include "fr_engine.h"
#include "fr_sched.h"

#include <stdint.h>

/* link names (see fr_internal.h): a proposal in the same module may use any name */
#define X fr_eng_explorer
#define footprint(...) fr_eng_footprint(__VA_ARGS__)
#define pending_fp(...) fr_eng_pending_fp(__VA_ARGS__)
#define dependent(...) fr_eng_dependent(__VA_ARGS__)
#define coenabled(...) fr_eng_coenabled(__VA_ARGS__)
#define touch_add(...) fr_eng_touch_add(__VA_ARGS__)
#define sr_end(...) fr_eng_sr_end(__VA_ARGS__)
#define sr_finish(...) fr_eng_sr_finish(__VA_ARGS__)
#define sr_release_reset(...) fr_eng_sr_release_reset(__VA_ARGS__)
#define sr_release_ok(...) fr_eng_sr_release_ok(__VA_ARGS__)
#define sr_note_step(...) fr_eng_sr_note_step(__VA_ARGS__)
#define sr_list_ok(...) fr_eng_sr_list_ok(__VA_ARGS__)
#define sr_ample_on(...) fr_eng_sr_ample_on(__VA_ARGS__)
#define sr_ample_broken(...) fr_eng_sr_ample_broken(__VA_ARGS__)
#define count_linearizations(...) fr_eng_count_linearizations(__VA_ARGS__)

#define MAXA 32
#define KEY_LISTS ((uintptr_t)1)
#define KEY_POOL ((uintptr_t)2)
#define COUNT_CAP (1 << 22) /* progress vectors beyond which an execution is not counted */

enum { C_WRITE = 1, C_FREE = 2, C_LOCK = 4, C_UNLOCK = 8, C_WORLD = 16, C_WROTE = 32,
       C_FORCED = 64, C_LINKED = 128 /* a free of a block linked into a list */ };
enum { AMPLE_BEGIN = 1, AMPLE_RELEASE, AMPLE_LIST }; /* node.ample: the kind taken at once */
#define FP_KEYS 4 /* words a spin's wait may read; more read the world */
#define FP_HELD 8 /* spin locks an actor may hold at once (fr_internal.h: FR_MAX_HELD) */

typedef struct fp {
    uintptr_t key;
    int size;                /* bytes from key: accesses conflict when their bytes overlap */
    uintptr_t wait[FP_KEYS]; /* the step ends a spin's wait: it reads these */
    uintptr_t held[FP_HELD]; /* spin locks its actor held right before the step */
    int wait_size[FP_KEYS];
    int block;
    int list;                /* a list operation's list (fr_pool_list_of; -1: any) */
    uint64_t blocks;         /* pool blocks it touched through checked accesses (bit: % 64) */
    short actor;
    short cpu;
    unsigned char cat;
    unsigned char owns;
    unsigned char nwait;
    unsigned char nheld;
    unsigned char insert;    /* a pending list insertion: its entry, not known before it
                                runs, may be a block someone frees (once it ran, the entry's
                                block is in blocks: link_between checks it) */
} fp;

typedef struct node {
    uint32_t enabled, backtrack, done, sleep;
    int chosen;
    int preempt; /* preemptions among the steps before this one */
    fp f;        /* the chosen step's footprint */
    int64_t sid; /* stateful: the number of the state before the step, -1 if none */
    int fresh;   /* stateful with reduction: its summary is not written yet */
    int ample;   /* the chosen step alone was taken as a persistent set (AMPLE_*) */
    int point;   /* race_point of this step, kept when the step is taken */
    int prev;    /* the step before it of the same actor, or -1 */
} node;

typedef struct fr_explorer {
    const FR_SCENARIO_SPEC *sc;
    FR_RUN_SPEC run;
    FR_DFS_SPEC spec;
    int *prefix;
    node *nodes;
    int *vc;       /* per step: for each actor, the latest of its steps that happens before */
    uint64_t *paths; /* stateful: per step, the hash of the actors before it (checkpoint.c) */
    int paths_ok;  /* paths[0 .. paths_ok] hash the current path's steps */
    fr_touch *nt;  /* stateful with reduction, per step: what the chosen step touches */
    fr_touch *sums; /* per step, MAXA actors: what each actor's steps below it touch */
    int sums_cap;
    int64_t cut_sid; /* the visited state an execution was cut at */
    int cycle;     /* a cut at a state still on the path: the graph has a cycle */
    int cap;
    int na;
    int len;       /* nodes on the current path */
    int target;    /* first step the current execution has not run before */
    int floor;     /* never backtrack above this depth (a shard's prefix) */
    uint32_t next_sleep;
    int cut;       /* the current execution was cut: 1 asleep, 2 shard boundary, 3 bound */
    int last[MAXA];
    unsigned char *spin_op; /* per scenario operation (+ settle): seen to spin wide */
    int restart;
    int restarts;
    FR_DFS_STATUS st;
    int *wit[16];
    int wit_len[16], wit_pre[16];
    int *shards;   /* split mode: split_depth actors per shard */
    uint32_t *shard_sleep;
    int n_shards, shard_cap;
    double *count_f; /* zeroed between counts */
    int *count_q;
    int count_f_cap;
    int started;
    uint32_t alone; /* scenario actors with a CPU of their own */
    int ample_kind; /* ample_step's last answer: AMPLE_* */
} fr_explorer;

extern fr_explorer X;

/* footprint.c */
/* The footprint of an actor's step: the one it just took (pending 0; v viewed after
 * it) or the one it would take next (pending 1). */
void footprint(fp *f, int actor, int op, const volatile void *obj, int size, int op_index,
               int wrote, int pending, const fr_actor_view *v, int owns, int forced);
void pending_fp(int actor, fp *f);
int dependent(const fp *a, const fp *b);
int coenabled(const fp *a, const fp *b);

/* stateful_por.c */
void touch_add(fr_touch *t, const fp *f); /* what the step f touches, into t */
void sr_end(int n);    /* an execution of n steps ended: races at its cut, summaries */
void sr_finish(int d); /* the path's nodes from depth d down are finished (stateful) */
/* the spin-lock releases the reduction takes at once: may actor a's pending release (v)
 * be (it then counts as taken); does a new step touch a lock whose release was taken
 * (1: search again, without) */
void sr_release_reset(int keep); /* keep: what was seen (the search starts over) */
int sr_release_ok(int a, const fr_actor_view *v);
int sr_note_step(const fp *f, int list); /* list: a list operation's, else -1 */
int sr_list_ok(int a, const fr_actor_view *v); /* may a's pending list operation be */
int sr_ample_on(int kind);    /* may steps of this kind be taken at once (not given up) */
void sr_ample_broken(int kind); /* a race reached a step of this kind taken at once */

/* count.c */
double count_linearizations(int n); /* -1: too large to count */

static inline int is_spin_op(int op) { return op == FR_SP_YIELD || op == FR_SP_STALL; }

static inline int spin_slot(int op_index) { return op_index < 0 ? X.sc->n_ops : op_index; }

/* the stateful search with its reduction (stateful_por.c) */
static inline int sr(void)
{
    return X.spec.stateful && X.spec.reduction && X.spec.split_depth <= 0;
}

static inline void join(int *dst, const int *src)
{
    for (int a = 0; a < X.na; a++)
        if (src[a] > dst[a])
            dst[a] = src[a];
}

/* A burst runs alone: nothing can be placed between its steps, so a race with one of
 * its forced steps is reversed before the burst's first step (the index returned; kept
 * per step, as the walk back over a long burst for each of its steps was quadratic). */
static inline int race_point(int i)
{
    return X.nodes[i].point;
}

#endif
