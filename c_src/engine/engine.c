/*
 * engine.c - the controlled loop: a controlled execution's state, its actors'
 * operations and events, who is enabled, how an execution ends (fr_run,
 * fr_run_batch, fr_engine_execute). The rest of the engine, one concern a file,
 * is listed in fr_internal.h.
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
 *     out (see spin.c).
 * When nobody is enabled and not everyone is done, the execution ends with a
 * livelock (someone spins) or a deadlock (everyone blocked).
 *
 * After the scenario's actors finish, a settle actor runs the model's settle
 * step (the driver core's: one more user-space poll, as user space polls
 * forever), then the model's checks run (the leak check). The engine reaches the
 * model only through the table it registered (fr_model.h).
 */
#define _GNU_SOURCE
#include "fr_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int fr_mode = FR_MODE_IDLE;

/* ---- execution state ----------------------------------------------------- */
const FR_SCENARIO_SPEC *g_sc;
const FR_RUN_SPEC *g_run;
fr_actor g_actors[FR_MAX_ACTORS + 1];
int g_nactors; /* including the settle actor */
fr_ctx g_main_ctx;
fr_actor *g_cur;
int g_steps;
raw_step *g_trace;
static int g_trace_cap;
int g_cpu_owner[FR_MAX_CPUS];
uint64_t g_writes;
const volatile void *g_wlog[FR_WLOG]; /* object of write number w, at w % FR_WLOG */
signed char g_wlog_actor[FR_WLOG];
int g_wlog_size[FR_WLOG];
int g_burst = -1;      /* the actor running a burst, or -1 */
int g_burst_alone;     /* nobody else could run when it began */
int g_burst_yields;
uint32_t g_burst_mask; /* actors whose next step would begin a burst */
unsigned char *g_event_done;
int *g_event_step; /* step during which each event ended (explorer's happens-before) */
static int g_event_cap;
int g_abort;
static int g_error;
static char g_errtext[256];
uint64_t g_rng;
int g_step_log_fd = -1;
int g_main_irql; /* IRQL of code run outside any actor (setup, checks) */
const fr_model *g_model;

void fr_model_register(const fr_model *model) { g_model = model; }

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

/* Outside an execution (which clears it itself): no text left from an earlier one. */
void fr_error_clear(void) { g_errtext[0] = 0; }

#ifndef FR_BUILD_ID
#define FR_BUILD_ID "unknown"
#endif
/* The digest of the sources this module was built from (kernel_model._build). */
const char *fr_build_id(void) { return FR_BUILD_ID; }

void set_error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_errtext, sizeof g_errtext, fmt, ap);
    va_end(ap);
    g_error = code;
    g_abort = 1;
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
        g_model->settle();
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
            g_model->do_op(a->index, opi);
            op_end(a);
        }
    }
    a->status = A_DONE;
    fr_ctx_swap(&a->ctx, &g_main_ctx);
    abort(); /* a finished actor is never resumed */
}

/* A spin-lock operation, as it runs (the lock's word as the step finds it, which the
 * explorer sees the step touch; not as the CPU arrives at it, which the step before
 * would decide unseen): an acquisition of a lock its CPU holds, a release of a lock it
 * does not hold (free, or another's: the word holds the holder's token) are findings,
 * and the CPU goes no further (a real one would spin for ever, or break the mutual
 * exclusion everything else here relies on: the explorer orders two steps taken under
 * one lock). Runs on the engine's stack, as the step is taken; 1 if it failed. */
static int lock_step_fails(fr_actor *a)
{
    if (a->pending_op != FR_SP_LOCK && a->pending_op != FR_SP_UNLOCK)
        return 0;
    uintptr_t word = *(const volatile uintptr_t *)a->pending_obj, mine = (uintptr_t)a->index + 1;
    if (a->pending_op == FR_SP_LOCK ? word != mine : word == mine)
        return 0;
    char name[64];
    describe_obj(a->pending_obj, name, sizeof name);
    if (a->pending_op == FR_SP_LOCK)
        fr_report(FR_V_DEADLOCK, fr_pool_flow_of(a->pending_obj),
                  "spin lock %s acquired twice by the same CPU (cpu%d)", name, a->cpu);
    else
        fr_report(FR_V_DEADLOCK, fr_pool_flow_of(a->pending_obj),
                  "spin lock %s released by cpu%d, which does not hold it", name, a->cpu);
    a->stuck = 1;
    return 1;
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
    case FR_SP_LOCK: /* free; or held by its own CPU: it runs, a finding (lock_step_fails) */
        return *(const volatile uintptr_t *)a->pending_obj == 0 ||
               *(const volatile uintptr_t *)a->pending_obj == (uintptr_t)a->index + 1;
    default:
        return 1;
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
            ; /* already reported: a double acquire, or a release it did not hold */
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
    if (!g_model) {
        set_error(FR_ERR_SPEC, "no model is registered with the engine (fr_model_register)");
        return 0;
    }
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
        int span = g_model->op_events(op);
        if (span < 1 || op->event < 0 || op->event + span > g_sc->n_events || op->n_after < 0 ||
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
        char why[160] = "";
        if (g_model->check_op(g_sc, k, why, sizeof why) != 0) {
            set_error(FR_ERR_SPEC, "operation %d: %s", k, why);
            return 0;
        }
    }
    return 1;
}

/* One controlled execution, from its start; or (resume > 0, the stateful search) from
 * the checkpoint of its path at step `resume` (checkpoint.c), as if replayed there. */
static int execute(const FR_SCENARIO_SPEC *sc, const FR_RUN_SPEC *run, uint64_t seed, int resume)
{
    g_sc = sc;
    g_run = run;
    g_error = 0;
    g_errtext[0] = 0;
    g_abort = 0;
    g_cur = NULL;
    fr_mode = FR_MODE_CONTROLLED;
    int max_steps = run->max_steps > 0 ? run->max_steps : 100000;
    int current = -1, cut = 0, gnode = -1, resumed = 0;
    uint32_t mask = 0;
    uint64_t path = FR_PATH_START; /* the actors so far, hashed (checkpoint.c) */
    int ck = fr_ckpt_begin(run->strategy == FR_STRAT_DFS);
    if (resume > 0) {
        if (!ck || !fr_ckpt_restore(resume, &mask, &current, &gnode, &path)) {
            set_error(FR_ERR_RESOURCES, "no checkpoint to resume the execution at step %d",
                      resume);
            fr_mode = FR_MODE_IDLE;
            return g_error;
        }
        resumed = 1;
        goto loop;
    }
    g_steps = 0;
    g_nviol = 0;
    g_nrec = 0;
    g_nedges = 0;
    g_writes = 0;
    g_seg = g_seg_done = g_order_pos = 0;
    g_burst = -1;
    g_burst_alone = g_burst_yields = 0; /* (not an earlier execution's last burst) */
    g_rng = seed_mix(seed);
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
    fr_sched_stacks_changed();
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
        a->pending_list = -1;
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
    g_nglobals = g_nstate = 0; /* the model's setup registers them anew */
    if (g_model->setup(sc) != 0) {
        set_error(FR_ERR_RESOURCES,
                  "the scenario's objects could not be created (the model's setup failed)");
        return g_error;
    }
    if (g_error) /* (the model's setup asked for too much) */
        return g_error;
    gnode = run->record_states ? fr_graph_state(fr_state_hash(), 1) : -1;
loop:
    for (;;) {
        if (resumed) { /* at the checkpoint's scheduling point: mask is what it enabled */
            resumed = 0;
            goto chosen;
        }
        if (g_burst >= 0)
            burst_follow();
        mask = 0;
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
        if (ck && g_steps > 0 && g_steps == fr_ckpt_checking()) {
            char why[160];
            if (fr_ckpt_compare(g_steps, mask, current, gnode, why, sizeof why) != 0) {
                set_error(FR_ERR_CALLBACK, "the checkpoint at step %d differs from the replayed "
                          "execution: %s", g_steps, why);
                break;
            }
        }
        if (ck)
            fr_ckpt_save(mask, current, gnode, path);
    chosen:;
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
        st->list = a->pending_list;
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
        a->blocks = 0;
        g_cur = a;
        current = c;
        if (!lock_step_fails(a)) /* (else the step ends it: it never runs again) */
            fr_ctx_swap(&g_main_ctx, &a->ctx);
        g_cur = NULL;
        fr_sched_stack_changed(c);
        st->blocks = a->blocks;
        note_access(a, st->op, st->obj, st->size);
        /* a yield that was its operation's last step (a bounded retry that gave up) ends
         * no spin: the CPU is not waiting, it returned from its callback */
        if (is_spin_point(st->op) && a->status == A_READY && a->pending_op != FR_SP_BEGIN)
            spin_yield(a);
        a->op_steps++;
        st->wrote = g_writes != writes;
        if (ck) {
            fr_ckpt_stack(g_steps - 1, a);
            path = fr_path_step(path, c);
        }
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
        g_model->check_quiescent();
    /* where executions end, not where a search cut one short, nor one that met the
     * search's first plain access with the race detector resting (its races were not
     * looked for; the search starts over with the detector awake) */
    if (gnode >= 0 && !cut && !(fr_race_off && fr_race_plain_seen))
        fr_graph_terminal(gnode, fr_violation_kinds(), fr_end_hash());
    if (ck)
        fr_ckpt_executed();
    fr_mode = FR_MODE_IDLE;
    return g_error;
}

int fr_engine_execute(const FR_SCENARIO_SPEC *sc, const FR_RUN_SPEC *run, uint64_t seed)
{
    return execute(sc, run, seed, 0);
}

int fr_engine_resume(const FR_SCENARIO_SPEC *sc, const FR_RUN_SPEC *run, int depth)
{
    return execute(sc, run, 0, depth);
}

int fr_run(const FR_SCENARIO_SPEC *scenario, const FR_RUN_SPEC *run)
{
    return execute(scenario, run, run->seed, 0);
}

int fr_run_batch(const FR_SCENARIO_SPEC *scenario, const FR_RUN_SPEC *run, uint64_t first_seed,
                 int executions, FR_BATCH_RESULT *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < executions; i++) {
        uint64_t seed = first_seed + (uint64_t)i;
        int rc = execute(scenario, run, seed, 0);
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
