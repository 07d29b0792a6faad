/*
 * explore.c - systematic exploration inside the engine: the depth-first search
 * over schedules with dynamic partial-order reduction and its shards (footprints and
 * dependence: footprint.c; the count of the interleavings it stands for: count.c; the
 * state graph it may feed: stategraph.c).
 *
 * With FR_DFS_SPEC.stateful it cuts an execution at a state visited before
 * (stateful.c); with reduction too, races are reversed by Flanagan and Godefroid's
 * rule (persistent sets), without sleep sets, and a cut reverses the races of the
 * steps below the visited state from its summary (stateful_por.c); a step that alone is
 * a persistent set (an operation's beginning, a release nothing else can see: ample_step)
 * is taken at once, without a state of its own.
 *
 * The search is stateless (Flanagan & Godefroid, POPL 2005, with sleep sets): an
 * execution re-runs from the start with a forced prefix of choices, then takes
 * the current actor while it can (else the lowest-numbered one). After each step
 * it finds, for every actor, the latest earlier step that is dependent with what
 * that actor does next, may be co-enabled with it and does not happen before it,
 * and asks that the actor (or, when it could not run there, every actor that
 * could) be tried at that point. Sleep sets keep one execution per equivalence
 * class among the ones that run to their end.
 *
 * What "dependent" means here (two steps of different actors):
 *   - same CPU (conservative: a DPC that raises its CPU to DISPATCH disables the
 *     other actors there, and any step may raise or lower it);
 *   - overlapping bytes of memory, at least one writes (as executed: a
 *     compare-exchange that failed, or an exchange that stored the same value, only
 *     read; a pending interlocked operation, and any instrumented plain or volatile
 *     store of the variant (access.c), counts as a write); spin locks count as
 *     writes to their word; a list operation touches its list (openFlows' buckets
 *     or closedFlows, named by following the entry's links to the head; one that
 *     cannot be named touches every list);
 *   - a free and any access to the same pool block, including those the shim and the
 *     core check during the step (the move's look at a flow under the table lock);
 *   - a free of a block linked into a list (a finding) and any list operation (a list
 *     operation touches the links of its entry and of the entry's neighbours); a free
 *     and a pending insertion (its entry is not known before it runs).
 * Events (an operation waiting for another's end), the settle actor (after
 * everyone), the same-CPU-owner pairs and any pair where one actor holds a spin
 * lock the other holds or takes are orderings, never races: they enter
 * happens-before but are not co-enabled. Counting such a pair as a race would be
 * worse than wasteful: its reversal cannot happen, and its clock would hide the
 * race that can (the lock acquisition that opened the critical section).
 *
 * Spins (spin.c): after YieldProcessor a spinner waits until another
 * actor writes a word its iteration accessed, or runs a burst (its next
 * iterations alone). Whether it may run, and which of the two it does, depends
 * on the writes to those words: the step that ends a wait reads them all. A
 * burst's later steps are forced (nobody else can run between them): a race with
 * one of them is reversed before the burst's first step (race_point), and a
 * forced step may itself be the later step of a race (the burst may read a word
 * the iteration before it did not: a retry's last try, say). Whether a burst that
 * runs out was alone (a livelock) or not (it changed nothing and waits on) depends
 * on whether anyone else could run, which no footprint records: the search places such a fruitless burst anywhere it is
 * independent, so two livelocks it tells apart only by how many fruitless spins
 * came first count as one. A wide spin (lists, or too many words) waits for any
 * write since its iteration began: the step after its yield, and the beginning of
 * an operation once that operation has been seen to spin wide, read "the world"
 * (depend on every step of another actor that wrote); when an execution shows a
 * new one, the search starts over with it.
 *
 * Counting: every schedule belongs to exactly one equivalence class, and sleep
 * sets run one maximal execution per class, so the number of schedules a search
 * without reduction would run is the sum, over the maximal executions explored,
 * of the linear extensions of their happens-before order (a dynamic program over
 * the per-actor progress vectors).
 */
#define _GNU_SOURCE
#include "fr_ctx.h"
#include "fr_explore.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

fr_explorer X;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int grow(int need)
{
    if (need > X.cap) {
        int cap = X.cap ? X.cap : 256;
        while (cap < need)
            cap *= 2;
        node *n = realloc(X.nodes, sizeof(node) * (size_t)cap);
        if (!n)
            return 0;
        X.nodes = n;
        int *v = realloc(X.vc, sizeof(int) * (size_t)cap * MAXA);
        if (!v)
            return 0;
        X.vc = v;
        uint64_t *ph = realloc(X.paths, sizeof(uint64_t) * (size_t)(cap + 1));
        if (!ph)
            return 0;
        X.paths = ph;
        X.cap = cap;
    }
    if (X.spec.stateful && X.sums_cap < X.cap) {
        fr_touch *t = realloc(X.nt, sizeof(fr_touch) * (size_t)X.cap);
        if (!t)
            return 0;
        X.nt = t;
        fr_touch *u = realloc(X.sums, sizeof(fr_touch) * (size_t)X.cap * MAXA);
        if (!u)
            return 0;
        X.sums = u;
        X.sums_cap = X.cap;
    }
    return 1;
}

/* ---- the search ---------------------------------------------------------------------- */
static int is_preemption(int d, int chosen)
{
    if (d == 0)
        return 0;
    int prev = X.nodes[d - 1].chosen;
    return chosen != prev && (X.nodes[d].enabled >> prev & 1);
}


/* Source-DPOR (Abdulla et al., POPL 2014): the race (i, e) is reversed by running,
 * at the state before i, an actor that can start notdep(i).e (the steps after i that
 * do not happen after it, then e). `clock` is e's happens-before clock, `last` the
 * index of e's last step in the sequence (e itself, or the end for a pending e), and
 * e belongs to `actor`. */
static void reverse_race(int i, int last, int actor, const int *clock)
{
    if (i < X.floor)
        return;
    node *n = &X.nodes[i];
    if (n->ample) { /* the step was no persistent set after all: search again without */
        sr_ample_broken(n->ample);
        X.restart = 1;
        return;
    }
    if (X.spec.stateful) { /* Flanagan-Godefroid: persistent sets, which a cut needs */
        n->backtrack |= (n->enabled >> actor & 1) ? 1u << actor : n->enabled;
        return;
    }
    int ai = X.nodes[i].f.actor;
    uint32_t initials = 0, seen = 0;
    for (int j = i + 1; j < last; j++) {
        const int *vj = &X.vc[(size_t)j * MAXA];
        if (vj[ai] >= i)
            continue; /* happens after i */
        int a = X.nodes[j].chosen;
        if (seen >> a & 1)
            continue;
        seen |= 1u << a;
        int first = 1;
        for (int b = 0; b < X.na && first; b++)
            if (b != a && vj[b] > i)
                first = 0;
        if (first)
            initials |= 1u << a;
    }
    if (!(seen >> actor & 1)) {
        int first = 1;
        for (int b = 0; b < X.na && first; b++)
            if (b != actor && b != ai && clock[b] > i)
                first = 0;
        if (first)
            initials |= 1u << actor;
    }
    initials &= n->enabled;
    if (!initials) { /* cannot name who starts it: everyone (Flanagan-Godefroid) */
        n->backtrack |= n->enabled;
        return;
    }
    if (initials & (n->backtrack | n->done))
        return;
    uint32_t awake = initials & ~n->sleep;
    if (!awake)
        return; /* every initial is asleep: explored from an earlier sibling */
    n->backtrack |= (awake >> actor & 1) ? 1u << actor : awake & -awake;
}

/* Races of an actor's pending step (one that never ran: the actor was blocked when
 * the execution ended) with the steps before it. */
static void pending_races(int p, int n_steps)
{
    fp t;
    pending_fp(p, &t);
    int clock[MAXA];
    if (X.last[p] >= 0)
        memcpy(clock, &X.vc[(size_t)X.last[p] * MAXA], sizeof clock);
    else
        for (int a = 0; a < MAXA; a++)
            clock[a] = -1;
    int races[64], nr = 0;
    int rc[MAXA];
    memcpy(rc, clock, sizeof rc);
    for (int i = n_steps - 1; i >= X.floor; i--) {
        const fp *g = &X.nodes[i].f;
        if (g->actor == p || (clock[g->actor] >= i && rc[g->actor] >= i) || !dependent(g, &t))
            continue;
        if (clock[g->actor] < i)
            join(clock, &X.vc[(size_t)i * MAXA]);
        int r = race_point(i);
        if (rc[g->actor] < r && coenabled(&X.nodes[r].f, &t)) {
            if (nr < 64)
                races[nr++] = r;
            join(rc, &X.vc[(size_t)r * MAXA]);
        }
    }
    for (int r = 0; r < nr; r++)
        reverse_race(races[r], n_steps, p, clock);
}

static void record_shard(int d, uint32_t sleep)
{
    if (X.n_shards == X.shard_cap) {
        int cap = X.shard_cap ? X.shard_cap * 2 : 64;
        int *s = realloc(X.shards, sizeof(int) * (size_t)cap * (size_t)(X.spec.split_depth + 1));
        uint32_t *z = realloc(X.shard_sleep, sizeof(uint32_t) * (size_t)cap);
        if (!s || !z) {
            if (s)
                X.shards = s;
            if (z)
                X.shard_sleep = z;
            return;
        }
        X.shards = s;
        X.shard_sleep = z;
        X.shard_cap = cap;
    }
    int *row = &X.shards[(size_t)X.n_shards * (size_t)(X.spec.split_depth + 1)];
    row[0] = d;
    for (int i = 0; i < d; i++)
        row[1 + i] = X.nodes[i].chosen;
    X.shard_sleep[X.n_shards++] = sleep;
}

/* An enabled actor whose next step alone is a persistent set (stateful search with
 * reduction): nothing another actor can do before it depends on it or can disable it,
 * so running it first loses no state the others could reach (Godefroid's persistent
 * sets; the search takes it at once, without a state of its own, and never adds to it).
 * Its CPU must be its own (nobody's IRQL or ownership in the way). Three kinds:
 *  - the beginning of an operation that waits for no event and is not known to spin
 *    (whose beginning reads the world): it touches nothing shared;
 *  - the release of a spin lock it holds that, in this search, nothing but the
 *    acquisitions and releases of its holders touches (sr_release_ok): the others'
 *    acquisitions are disabled until it runs;
 *  - an operation on a list made under a lock every operation on that list was made
 *    under (sr_list_ok).
 * It can be on no cycle of such steps (each beginning advances the operation index, each
 * release needs an acquisition, each list operation a lock taken). A race that reaches
 * one gives its kind up (reverse_race, sr_cut_races). -1 if there is none. */
static int ample_step(uint32_t mask)
{
    for (uint32_t m = mask & X.alone; m; m &= m - 1) {
        int a = __builtin_ctz(m);
        fr_actor_view v;
        fr_sched_view(a, &v);
        if (v.spin_wait)
            continue;
        if (v.pending_op == FR_SP_BEGIN && v.op_index >= 0 && !X.spin_op[spin_slot(v.op_index)] &&
            X.sc->ops[v.op_index].n_after == 0 && sr_ample_on(AMPLE_BEGIN)) {
            X.ample_kind = AMPLE_BEGIN;
            return a;
        }
        if (v.pending_op == FR_SP_UNLOCK && sr_ample_on(AMPLE_RELEASE) && sr_release_ok(a, &v)) {
            X.ample_kind = AMPLE_RELEASE;
            return a;
        }
        if ((v.pending_op == FR_SP_LIST_READ || v.pending_op == FR_SP_LIST_INSERT ||
             v.pending_op == FR_SP_LIST_REMOVE) && sr_ample_on(AMPLE_LIST) && sr_list_ok(a, &v)) {
            X.ample_kind = AMPLE_LIST;
            return a;
        }
    }
    return -1;
}

int fr_dfs_pick(int d, uint32_t mask, int current)
{
    if (!grow(d + 2)) {
        fr_sched_fail(FR_ERR_RESOURCES, "out of memory (search stack)");
        return -1;
    }
    node *n = &X.nodes[d];
    if (d < X.len) { /* a step of the path: the same state, the recorded choice */
        if (n->enabled != mask) {
            fr_sched_fail(FR_ERR_CALLBACK,
                          "the execution is not deterministic: a replayed prefix enabled other "
                          "actors (does the variant keep state outside the shim?)");
            return -1;
        }
        return n->chosen;
    }
    if (X.spec.split_depth > 0 && d == X.spec.split_depth) {
        if (mask & ~X.next_sleep)
            record_shard(d, X.next_sleep);
        X.cut = 2;
        return -1;
    }
    n->sid = -1;
    n->fresh = 1;
    n->ample = 0;
    if (sr() && d >= X.floor) { /* a step that alone is a persistent set: at once */
        int c = ample_step(mask);
        if (c >= 0) {
            n->enabled = mask;
            n->preempt = d ? X.nodes[d - 1].preempt + is_preemption(d - 1, X.nodes[d - 1].chosen) : 0;
            n->sleep = 0;
            n->backtrack = n->done = 1u << c;
            n->ample = X.ample_kind;
            n->chosen = c;
            X.len = d + 1;
            return c;
        }
    }
    if (X.spec.stateful && d >= X.floor) {
        int64_t id;
        if (!fr_stateful_visit_id(&id)) {
            X.cut = 4; /* explored from its first visit (stateful.c) */
            X.cut_sid = id;
            return -1;
        }
        n->sid = id;
    }
    n->enabled = mask;
    n->preempt = d ? X.nodes[d - 1].preempt + is_preemption(d - 1, X.nodes[d - 1].chosen) : 0;
    int c;
    if (d < X.floor) { /* a shard's prefix */
        c = X.prefix[d];
        n->sleep = 0;
        if (c < 0 || c >= X.na || !(mask >> c & 1)) {
            fr_sched_fail(FR_ERR_SCHEDULE, "the shard's prefix names an actor that cannot run");
            return -1;
        }
    } else {
        n->sleep = d == X.floor && X.floor > 0 ? X.spec.prefix_sleep : X.next_sleep;
        if (!X.spec.reduction || X.spec.stateful)
            n->sleep = 0; /* sleep sets would need the state's own (Godefroid) */
        uint32_t cand = mask & ~n->sleep;
        if (!cand) {
            X.cut = 1;
            return -1;
        }
        int bound = X.spec.preemption_bound;
        uint32_t allowed = cand;
        if (bound >= 0 && d > 0 && n->preempt >= bound) {
            int prev = X.nodes[d - 1].chosen;
            if (mask >> prev & 1)
                allowed &= 1u << prev; /* only continuing is not a preemption */
        }
        if (!allowed) {
            X.st.bound_pruned++;
            X.cut = 3;
            return -1;
        }
        /* by default nobody begins a burst: the search reaches bursts by reversing races */
        uint32_t pref = allowed & ~fr_sched_burst_mask();
        if (!pref)
            pref = allowed;
        c = (current >= 0 && (pref >> current & 1)) ? current : __builtin_ctz(pref);
        /* the search without reduction, and the levels above the shards, try everyone */
        n->backtrack = (!X.spec.reduction || X.spec.split_depth > 0) ? cand : 1u << c;
    }
    if (d < X.floor)
        n->backtrack = 1u << c;
    n->done = 1u << c;
    n->chosen = c;
    X.len = d + 1;
    return c;
}


void fr_dfs_stepped(int d, int c, int op, const volatile void *obj, int op_index, int wrote,
                    int owned, int forced)
{
    if (d < X.target) {
        X.last[c] = d;
        return;
    }
    node *n = &X.nodes[d];
    fr_actor_view v;
    fr_sched_view(c, &v);
    footprint(&n->f, c, op, obj, fr_sched_step_size(d), op_index, wrote, 0, &v, owned, forced);
    n->point = d > 0 && (n->f.cat & C_FORCED) ? X.nodes[d - 1].point : d;
    n->f.blocks |= fr_sched_step_blocks(d); /* what the shim and the core touched too */
    if (n->f.key == KEY_LISTS)
        n->f.list = fr_sched_step_list(d);
    if (sr()) { /* what the step touches: the summaries' input */
        memset(&X.nt[d], 0, sizeof X.nt[d]);
        touch_add(&X.nt[d], &n->f);
        if (c < X.na - 1 && sr_note_step(&n->f, fr_sched_step_list(d)))
            X.restart = 1; /* a step taken at once relied on what this step breaks */
    }
    if (X.spec.stateful && fr_stateful_note(op, obj, fr_sched_step_size(d), op_index))
        X.restart = 1;
    if (is_spin_op(op) && v.spin_wait && v.n_keys < 0 && !X.spin_op[spin_slot(op_index)]) {
        X.spin_op[spin_slot(op_index)] = 1;
        X.restart = 1;
    }
    /* happens-before: program order, the orderings that enable the step (events,
     * settle), then every earlier dependent step; a dependent step that does not
     * already happen before is a race */
    int *vc = &X.vc[(size_t)d * MAXA];
    if (X.last[c] >= 0)
        memcpy(vc, &X.vc[(size_t)X.last[c] * MAXA], sizeof(int) * MAXA);
    else
        for (int a = 0; a < MAXA; a++)
            vc[a] = -1;
    if (op == FR_SP_BEGIN) {
        if (op_index < 0) { /* settle: after every other actor */
            for (int a = 0; a < X.na; a++)
                if (a != c && X.last[a] >= 0)
                    join(vc, &X.vc[(size_t)X.last[a] * MAXA]);
        } else {
            const FR_OP_SPEC *o = &X.sc->ops[op_index];
            for (int k = 0; k < o->n_after; k++) {
                int s = fr_sched_event_step(o->after[k]);
                if (s >= 0 && s < d)
                    join(vc, &X.vc[(size_t)s * MAXA]);
            }
        }
    }
    int analyse = X.spec.reduction && X.spec.split_depth <= 0;
    int races[64], nr = 0;
    /* rc: happens-before through races only. An unlock before a lock of the same
     * lock (or a step of a CPU's owner before another step there) orders them but
     * is no race: the lock that opened the critical section races with ours. */
    int rc[MAXA];
    memcpy(rc, vc, sizeof rc);
    /* the walk back visits, latest first, only the steps of the other actors whose
     * steps still ahead of it do not all happen before (both clocks cover them: it would
     * skip each), following each one's chain of steps: open, by actor; left: its latest
     * step not walked past yet. It stops once none is open. */
    int left[MAXA];
    uint32_t open = 0;
    for (int b = 0; b < X.na; b++) {
        left[b] = X.last[b];
        if (b != c && left[b] >= 0 && (vc[b] < left[b] || rc[b] < left[b]))
            open |= 1u << b;
    }
    while (open) {
        int b = __builtin_ctz(open);
        for (uint32_t o = open & (open - 1); o; o &= o - 1) {
            int a = __builtin_ctz(o);
            if (left[a] > left[b])
                b = a;
        }
        int i = left[b];
        const fp *g = &X.nodes[i].f;
        left[b] = X.nodes[i].prev;
        if ((vc[b] >= i && rc[b] >= i) || !dependent(g, &n->f)) {
            if (left[b] < 0 || (vc[b] >= left[b] && rc[b] >= left[b]))
                open &= ~(1u << b);
            continue;
        }
        if (vc[b] < i)
            join(vc, &X.vc[(size_t)i * MAXA]);
        int r = race_point(i);
        if (rc[b] < r && coenabled(&X.nodes[r].f, &n->f)) {
            if (analyse && r >= X.floor && nr < 64)
                races[nr++] = r;
            join(rc, &X.vc[(size_t)r * MAXA]);
        }
        for (uint32_t o = open; o; o &= o - 1) {
            int a = __builtin_ctz(o);
            if (left[a] < 0 || (vc[a] >= left[a] && rc[a] >= left[a]))
                open &= ~(1u << a);
        }
    }
    vc[c] = d;
    n->prev = X.last[c];
    X.last[c] = d;
    for (int r = 0; r < nr; r++)
        reverse_race(races[r], d, c, vc);

    /* sleep set of the next state: what slept or was explored here, and is
     * independent of the step just taken */
    uint32_t sleep = 0;
    if (X.spec.reduction && !X.spec.stateful)
        sleep = (n->sleep | (n->done & ~(1u << c))) & ~(1u << c);
    for (uint32_t s = sleep; s; s &= s - 1) {
        int p = __builtin_ctz(s);
        fr_actor_view pv;
        fr_sched_view(p, &pv);
        fp t;
        if (pv.status == FR_VIEW_DONE) {
            sleep &= ~(1u << p);
            continue;
        }
        footprint(&t, p, pv.pending_op, pv.pending_obj, pv.pending_size, pv.op_index,
                  pv.pending_writes, 1, &pv, pv.owns_cpu, 0);
        if (dependent(&n->f, &t))
            sleep &= ~(1u << p);
    }
    X.next_sleep = sleep;
}

static int backtrack(void)
{
    for (int d = X.len - 1; d >= X.floor; d--) {
        node *n = &X.nodes[d];
        uint32_t cand = n->backtrack & ~n->done & ~n->sleep & n->enabled;
        while (cand) {
            int p = __builtin_ctz(cand);
            cand &= cand - 1;
            n->done |= 1u << p;
            if (X.spec.preemption_bound >= 0 &&
                n->preempt + is_preemption(d, p) > X.spec.preemption_bound) {
                X.st.bound_pruned++;
                continue;
            }
            if (X.spec.stateful)
                sr_finish(d + 1);
            n->chosen = p;
            X.len = d + 1;
            X.target = d;
            return 1;
        }
    }
    return 0;
}

static double coverage(void)
{
    if (X.st.complete)
        return 1.0;
    double cov = 0, w = 1;
    for (int d = X.floor; d < X.len; d++) {
        const node *n = &X.nodes[d];
        uint32_t all = (n->backtrack | n->done) & n->enabled & ~n->sleep;
        int total = __builtin_popcount(all);
        if (total <= 1)
            continue;
        int before = __builtin_popcount(n->done & all) - 1;
        cov += w * before / total;
        w /= total;
    }
    return cov;
}

int fr_dfs_start(const FR_SCENARIO_SPEC *scenario, const FR_RUN_SPEC *run, const FR_DFS_SPEC *dfs)
{
    fr_error_clear();
    X.sc = scenario;
    X.run = *run;
    X.run.strategy = FR_STRAT_DFS;
    X.run.n_segments = 0;
    X.run.n_order = 0;
    X.spec = *dfs;
    X.spec.prefix = NULL;
    free(X.prefix);
    X.prefix = NULL;
    if (dfs->n_prefix > 0) {
        X.prefix = malloc(sizeof(int) * (size_t)dfs->n_prefix);
        if (!X.prefix)
            return FR_ERR_RESOURCES;
        memcpy(X.prefix, dfs->prefix, sizeof(int) * (size_t)dfs->n_prefix);
    }
    X.na = scenario->n_actors + 1;
    if (X.na > MAXA)
        return FR_ERR_SPEC;
    X.floor = dfs->n_prefix > 0 ? dfs->n_prefix : 0;
    X.len = 0;
    X.target = 0;
    X.paths_ok = 0;
    memset(&X.st, 0, sizeof X.st);
    X.st.interleavings_exact = 1;
    for (int k = 0; k < 16; k++) {
        free(X.wit[k]);
        X.wit[k] = NULL;
        X.wit_len[k] = -1;
    }
    X.n_shards = 0; /* rows are split_depth + 1 long: start a fresh buffer */
    free(X.shards);
    free(X.shard_sleep);
    X.shards = NULL;
    X.shard_sleep = NULL;
    X.shard_cap = 0;
    X.restarts = 0;
    free(X.spin_op);
    X.spin_op = calloc((size_t)scenario->n_ops + 1, 1);
    if (!X.spin_op)
        return FR_ERR_RESOURCES;
    for (int i = 0; i < dfs->n_spin_ops && i <= scenario->n_ops; i++)
        X.spin_op[i] = dfs->spin_ops[i] != 0;
    X.spec.spin_ops = NULL;
    X.cycle = 0;
    X.alone = 0;
    for (int a = 0; a < scenario->n_actors; a++) { /* (the settle poll runs after all) */
        int shared = 0;
        for (int b = 0; b < scenario->n_actors && !shared; b++)
            shared = b != a && scenario->actors[b].cpu == scenario->actors[a].cpu;
        if (!shared)
            X.alone |= 1u << a;
    }
#ifdef FR_USE_UCONTEXT
    if (X.spec.stateful) { /* the fingerprint reads callee-saved registers off the stack */
        fr_sched_fail(FR_ERR_SPEC, "dfs-stateful needs the engine's own context switch "
                                   "(x86-64 or AArch64, no sanitizer): this build swaps "
                                   "contexts with ucontext, whose saved registers the state "
                                   "fingerprint cannot read; use dfs");
        return FR_ERR_SPEC;
    }
#endif
    sr_release_reset(0);
    if (X.spec.stateful) { /* a visited set (stateful.c), with or without reduction */
        X.spec.preemption_bound = -1;
        fr_stateful_start(scenario->n_ops);
        fr_ckpt_reset();
    }
    X.started = 1;
    return grow(256) ? FR_OK : FR_ERR_RESOURCES;
}

static void keep_witness(int n, uint32_t kinds)
{
    int pre = n > 0 ? X.nodes[n - 1].preempt + is_preemption(n - 1, X.nodes[n - 1].chosen) : 0;
    for (int k = 1; k < 16; k++) {
        if (!(kinds >> k & 1))
            continue;
        if (X.wit_len[k] >= 0 &&
            (X.wit_pre[k] < pre || (X.wit_pre[k] == pre && X.wit_len[k] <= n)))
            continue;
        int *w = realloc(X.wit[k], sizeof(int) * (size_t)(n ? n : 1));
        if (!w)
            continue;
        for (int i = 0; i < n; i++)
            w[i] = X.nodes[i].chosen;
        X.wit[k] = w;
        X.wit_len[k] = n;
        X.wit_pre[k] = pre;
    }
}

/* A stateful execution cut at a state still on its path (depth k of n steps) came back
 * to where it was: the steps k..n-1 can repeat for ever, an execution with no end (what
 * the step bound reports as a livelock in a search that does not remember states). Its
 * witness: the path to k, then the cycle until the step bound. */
static void cycle_witness(int k, int n)
{
    int bound = X.run.max_steps > 0 ? X.run.max_steps : 100000;
    int len = n > bound ? n : bound, period = n - k;
    if (period <= 0)
        return;
    int *w = malloc(sizeof(int) * (size_t)len);
    if (!w)
        return;
    int pre = 0;
    for (int i = 0; i < len; i++) {
        int src = i < n ? i : k + (i - k) % period;
        w[i] = X.nodes[src].chosen;
        if (i > 0 && w[i] != w[i - 1] && (X.nodes[src].enabled >> w[i - 1] & 1))
            pre++;
    }
    int kind = FR_V_LIVELOCK;
    if (X.wit_len[kind] >= 0 &&
        (X.wit_pre[kind] < pre || (X.wit_pre[kind] == pre && X.wit_len[kind] <= len))) {
        free(w);
        return;
    }
    free(X.wit[kind]);
    X.wit[kind] = w;
    X.wit_len[kind] = len;
    X.wit_pre[kind] = pre;
}

/* The depth at which the state an execution was cut at is on its path, or -1. */
static int cycle_start(int n)
{
    uint32_t summary;
    if (X.cut != 4 || X.cut_sid < 0 || fr_stateful_finished(X.cut_sid, &summary))
        return -1;
    for (int k = n - 1; k >= X.floor; k--)
        if (X.nodes[k].sid == X.cut_sid)
            return k;
    return -1;
}

int fr_dfs_run(int64_t max_executions, double max_seconds, FR_DFS_STATUS *out)
{
    if (!X.started)
        return FR_ERR_SPEC;
    double t0 = now_s();
    int64_t ran = 0, resumed_here = 0;
    int rc = FR_OK;
    fr_stateful_running(X.spec.stateful);
    while (!X.st.complete && !X.st.stopped) {
        if (max_executions > 0 && ran >= max_executions)
            break;
        if (max_seconds > 0 && (ran & 15) == 0 && ran && now_s() - t0 > max_seconds)
            break;
        X.cut = 0;
        X.next_sleep = 0;
        X.restart = 0;
        for (int a = 0; a < MAXA; a++)
            X.last[a] = -1;
        int resume = 0;
        if (X.spec.stateful) {
            fr_stateful_execution();
            /* resume at the checkpoint of the step it backtracked to (checkpoint.c),
             * rather than replay the path to it; none while the race detector is awake
             * (its state is not kept) */
            int ck = !X.spec.no_checkpoints && fr_race_off;
            fr_ckpt_arm(ck, X.target);
            int at = 0;
            if (ck && X.target > 0) {
                /* (the steps below the last target did not change since) */
                X.paths[0] = FR_PATH_START;
                for (int d = X.paths_ok < X.target ? X.paths_ok : X.target; d < X.target; d++)
                    X.paths[d + 1] = fr_path_step(X.paths[d], X.nodes[d].chosen);
                X.paths_ok = X.target;
                at = fr_ckpt_deepest(X.target, X.paths);
            }
            fr_ckpt_check(X.spec.checkpoint_check ? at : 0);
            if (at > 0 && !X.spec.checkpoint_check) {
                resume = at; /* (the steps from there to the target replay) */
                for (int d = 0; d < at; d++) /* (what the replayed steps would set) */
                    X.last[X.nodes[d].chosen] = d;
            } else {
                fr_sched_clear_stacks(X.sc->n_actors);
            }
        }
        rc = resume ? fr_engine_resume(X.sc, &X.run, resume) : fr_engine_execute(X.sc, &X.run, 0);
        resumed_here += resume > 0;
        if (rc != FR_OK)
            break;
        ran++;
        int n = fr_steps();
        X.st.executions++;
        X.st.steps += n;
        if (n > X.st.max_depth)
            X.st.max_depth = n;
        if (X.cut == 1)
            X.st.sleep_blocked++;
        if (X.cut == 4)
            X.st.revisits++;
        if (n >= (X.run.max_steps > 0 ? X.run.max_steps : 100000))
            X.st.step_bound_hit++;
        if (!X.cut) {
            X.st.maximal++;
            if (X.spec.count_interleavings && X.st.interleavings_exact) {
                double c = count_linearizations(n);
                if (c < 0)
                    X.st.interleavings_exact = 0;
                else
                    X.st.interleavings += c;
            }
        }
        /* (a stateful cut: the visited state's summary holds the pending steps too) */
        if (X.spec.reduction && X.spec.split_depth <= 0 && !(sr() && X.cut == 4))
            for (int p = 0; p < X.na; p++) {
                fr_actor_view pv;
                fr_sched_view(p, &pv);
                if (pv.status != FR_VIEW_DONE)
                    pending_races(p, n);
            }
        if (sr() && !X.restart)
            sr_end(n);
        if (X.cycle && X.spec.reduction) { /* not covered with reduction: search again without */
            X.spec.reduction = 0;
            X.restart = 1;
        }
        uint32_t kinds = fr_violation_kinds();
        int cyc = X.spec.stateful ? cycle_start(n) : -1;
        if (kinds)
            keep_witness(n, kinds);
        if (cyc >= 0) {
            cycle_witness(cyc, n);
            kinds |= 1u << FR_V_LIVELOCK;
        }
        if (kinds) {
            X.st.violating++;
            for (int k = 1; k < 16; k++)
                if (kinds >> k & 1)
                    X.st.by_kind[k]++;
            if (kinds & X.spec.stop_kinds)
                X.st.stopped = 1;
        }
        if (X.restart && X.spec.stateful) {
            /* the fingerprint grew (a variant's object, or the race detector's state):
             * the states told apart so far may be one state apart now; search again */
            X.restarts++;
            X.len = 0;
            X.target = 0;
            X.paths_ok = 0;
            X.spec.prefix_sleep = 0;
            X.st.maximal = 0;
            fr_stateful_reset();
            fr_ckpt_reset();
            sr_release_reset(1);
            continue;
        }
        if (X.restart && X.spec.reduction && X.spec.split_depth <= 0) {
            /* a new spinning operation: its beginnings read the world from now on,
             * which earlier executions did not know; search again */
            X.restarts++;
            X.len = 0;
            X.target = 0;
            X.spec.prefix_sleep = 0;
            X.st.interleavings = 0;
            X.st.interleavings_exact = 1;
            X.st.maximal = 0;
            continue;
        }
        if (!backtrack())
            X.st.complete = 1;
    }
    fr_stateful_running(0);
    if (X.spec.stateful) {
        X.st.states = fr_stateful_states();
        X.st.visited_bytes = fr_stateful_bytes();
    }
    X.st.coverage = coverage();
    X.st.shards = X.n_shards;
    X.st.restarts = X.restarts;
    X.st.reduced = X.spec.reduction;
    if (X.spec.stateful)
        X.st.resumed += resumed_here;
    if (!X.spec.count_interleavings)
        X.st.interleavings_exact = 0;
    *out = X.st;
    return rc;
}

int fr_dfs_witness(int kind, int *actors, int cap, int *preemptions)
{
    if (kind < 1 || kind > 15 || X.wit_len[kind] < 0)
        return -1;
    int n = X.wit_len[kind];
    for (int i = 0; i < n && i < cap; i++)
        actors[i] = X.wit[kind][i];
    if (preemptions)
        *preemptions = X.wit_pre[kind];
    return n;
}

int fr_dfs_spin_ops(unsigned char *out, int cap)
{
    int n = X.sc ? X.sc->n_ops + 1 : 0;
    for (int i = 0; i < n && i < cap; i++)
        out[i] = X.spin_op[i];
    return n;
}

int fr_dfs_shard(int index, int *actors, int cap, uint32_t *sleep)
{
    if (index < 0 || index >= X.n_shards)
        return -1;
    const int *row = &X.shards[(size_t)index * (size_t)(X.spec.split_depth + 1)];
    for (int i = 0; i < row[0] && i < cap; i++)
        actors[i] = row[1 + i];
    if (sleep)
        *sleep = X.shard_sleep[index];
    return row[0];
}
