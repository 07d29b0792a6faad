/*
 * toy_model.c - a model that is not the driver: one counter in the pool, a flag,
 * two spin locks. It registers its table with the engine (fr_model.h) and runs
 * controlled executions of the engine alone: built with engine/ and the shim's
 * header only, no core/ (tests/engine/test_engine_alone.py).
 *
 *   ./toy CASE      prints one line per run: "key=value ..." (see main)
 *
 * Operations (FR_OP_SPEC.kind), each owning one event:
 *   TOY_RACY        read the counter, write it + 1 (two scheduling points)
 *   TOY_LOCKED      the same under lock A
 *   TOY_ATOMIC      InterlockedIncrement
 *   TOY_AB, TOY_BA  take A then B (B then A), increment, release
 *   TOY_WAIT        spin (YieldProcessor) until the flag is set
 *   TOY_SET         set the flag
 * The check at the end: the counter equals the increments performed, else a
 * finding (kind FR_V_LEAK: to the engine a kind is a number).
 */
#include "fr_engine.h"
#include "fr_model.h"
#include "wdm_shim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { TOY_RACY = 1, TOY_LOCKED, TOY_ATOMIC, TOY_AB, TOY_BA, TOY_WAIT, TOY_SET };

typedef struct TOY_CELL {
    LONG Count;
    LONG Flag;
} TOY_CELL;

static TOY_CELL *g_Toy;
static KSPIN_LOCK g_ToyLockA, g_ToyLockB;
static int g_ToyIncrements;

static int ToyOpEvents(const FR_OP_SPEC *op)
{
    (void)op;
    return 1;
}

static int ToyCheckOp(const FR_SCENARIO_SPEC *sc, int opi, char *why, size_t n)
{
    int kind = sc->ops[opi].kind;
    if (kind < TOY_RACY || kind > TOY_SET) {
        snprintf(why, n, "unknown toy operation %d", kind);
        return -1;
    }
    return 0;
}

static int ToySetup(const FR_SCENARIO_SPEC *sc)
{
    g_Toy = fr_pool_alloc(sizeof *g_Toy, 0x796F54u);
    if (!g_Toy)
        return -1;
    fr_pool_tag_flow(g_Toy, 0);
    g_Toy->Count = 0;
    g_Toy->Flag = 0;
    KeInitializeSpinLock(&g_ToyLockA);
    KeInitializeSpinLock(&g_ToyLockB);
    fr_register_global(&g_ToyLockA, sizeof g_ToyLockA, "lockA");
    fr_register_global(&g_ToyLockB, sizeof g_ToyLockB, "lockB");
    g_ToyIncrements = 0;
    for (int k = 0; k < sc->n_ops; k++)
        g_ToyIncrements += sc->ops[k].kind <= TOY_BA;
    return 0;
}

static void ToyIncrement(void)
{
    LONG v = ReadNoFence(&g_Toy->Count);
    WriteNoFence(&g_Toy->Count, v + 1);
}

static void ToyDoOp(int actor, int opi)
{
    KIRQL a, b;
    (void)actor;
    switch (fr_scenario()->ops[opi].kind) {
    case TOY_RACY:
        ToyIncrement();
        break;
    case TOY_LOCKED:
        KeAcquireSpinLock(&g_ToyLockA, &a);
        ToyIncrement();
        KeReleaseSpinLock(&g_ToyLockA, a);
        break;
    case TOY_ATOMIC:
        InterlockedIncrement(&g_Toy->Count);
        break;
    case TOY_AB:
    case TOY_BA: {
        int ab = fr_scenario()->ops[opi].kind == TOY_AB;
        PKSPIN_LOCK first = ab ? &g_ToyLockA : &g_ToyLockB, second = ab ? &g_ToyLockB : &g_ToyLockA;
        KeAcquireSpinLock(first, &a);
        KeAcquireSpinLock(second, &b);
        ToyIncrement();
        KeReleaseSpinLock(second, b);
        KeReleaseSpinLock(first, a);
        break;
    }
    case TOY_WAIT:
        while (ReadNoFence(&g_Toy->Flag) == 0)
            YieldProcessor();
        break;
    default: /* TOY_SET */
        WriteNoFence(&g_Toy->Flag, 1);
        break;
    }
}

static void ToySettle(void) {}

static void ToyCheck(void)
{
    if (g_Toy->Count != g_ToyIncrements)
        fr_report(FR_V_LEAK, 0, "lost update: the counter is %d after %d increments",
                  (int)g_Toy->Count, g_ToyIncrements);
}

static const char *ToyField(int offset, int *start)
{
    if (offset < 0 || offset >= (int)sizeof(TOY_CELL))
        return NULL;
    *start = offset < 4 ? 0 : 4;
    return offset < 4 ? "Count" : "Flag";
}

static const fr_model g_ToyModel = {
    .op_events = ToyOpEvents,
    .check_op = ToyCheckOp,
    .setup = ToySetup,
    .do_op = ToyDoOp,
    .settle = ToySettle,
    .check_quiescent = ToyCheck,
    .describe_field = ToyField,
    .unhashed_offset = -1,
};

/* ---- scenarios: actor i on cpu[i] runs one operation of kind[i] at irql[i] ---------- */
static FR_ACTOR_SPEC g_actors_spec[4];
static FR_OP_SPEC g_ops_spec[4];
static FR_SCENARIO_SPEC g_scenario;

static const FR_SCENARIO_SPEC *scenario(int n, const int *kind, const int *cpu, const int *irql)
{
    memset(g_ops_spec, 0, sizeof g_ops_spec);
    for (int i = 0; i < n; i++) {
        g_actors_spec[i] = (FR_ACTOR_SPEC){cpu[i], i, 1};
        g_ops_spec[i].kind = kind[i];
        g_ops_spec[i].flow = -1;
        g_ops_spec[i].irql = irql ? irql[i] : 0;
        g_ops_spec[i].event = i;
    }
    g_scenario = (FR_SCENARIO_SPEC){0, NULL, n, g_actors_spec, n, g_ops_spec, n, 0, 0};
    return &g_scenario;
}

static void print_run(const char *label, int rc)
{
    printf("%s rc=%d steps=%d kinds=0x%x", label, rc, fr_steps(), fr_violation_kinds());
    for (int i = 0; i < fr_violations(); i++) {
        FR_VIOLATION v;
        fr_violation(i, &v);
        printf(" | %s", v.detail);
    }
    if (rc != FR_OK)
        printf(" | error: %s", fr_error_text());
    printf("\n");
}

/* dfs over the scenario; with a finding, replay its witness as an explicit schedule */
static void dfs(const char *label, const FR_SCENARIO_SPEC *sc, int reduction)
{
    FR_RUN_SPEC run = {0};
    run.max_steps = 1000;
    FR_DFS_SPEC spec = {0};
    spec.reduction = reduction;
    spec.preemption_bound = -1;
    FR_DFS_STATUS st;
    int rc = fr_dfs_start(sc, &run, &spec);
    if (rc == FR_OK)
        rc = fr_dfs_run(100000, 60.0, &st);
    uint32_t kinds = 0;
    for (int k = 0; k < 16; k++)
        if (st.by_kind[k])
            kinds |= 1u << k;
    printf("%s rc=%d complete=%d executions=%lld maximal=%lld violating=%lld kinds=0x%x\n", label,
           rc, st.complete, (long long)st.executions, (long long)st.maximal,
           (long long)st.violating, kinds);
    for (int k = 1; k < 16; k++) {
        int actors[1000], pre;
        int n = fr_dfs_witness(k, actors, 1000, &pre);
        if (n < 0)
            continue;
        FR_SEGMENT seg[1000];
        for (int i = 0; i < n; i++)
            seg[i] = (FR_SEGMENT){actors[i], FR_SEG_STEPS, 1};
        FR_RUN_SPEC replay = {0};
        replay.strategy = FR_STRAT_SCHEDULE;
        replay.n_segments = n;
        replay.segments = seg;
        replay.max_steps = 1000;
        char what[64];
        snprintf(what, sizeof what, "%s-witness-%d", label, k);
        print_run(what, fr_run(sc, &replay));
    }
}

static int g_picks;
static int pick_highest(int step, uint32_t enabled, int current)
{
    (void)step;
    (void)current;
    g_picks++;
    return 31 - __builtin_clz(enabled);
}

int main(int argc, char **argv)
{
    const char *c = argc > 1 ? argv[1] : "";
    if (strcmp(c, "no-model") != 0)
        fr_model_register(&g_ToyModel);
    int two[2] = {0, 1}, same[2] = {0, 0}, dispatch[2] = {2, 0};
    if (!strcmp(c, "race")) {
        int k[2] = {TOY_RACY, TOY_RACY};
        dfs("race-dpor", scenario(2, k, two, NULL), 1);
        dfs("race-full", scenario(2, k, two, NULL), 0);
    } else if (!strcmp(c, "atomic")) {
        int k[2] = {TOY_ATOMIC, TOY_ATOMIC};
        dfs("atomic-dpor", scenario(2, k, two, NULL), 1);
    } else if (!strcmp(c, "lock")) {
        int k[2] = {TOY_LOCKED, TOY_LOCKED};
        dfs("lock-dpor", scenario(2, k, two, NULL), 1);
        dfs("lock-full", scenario(2, k, two, NULL), 0);
    } else if (!strcmp(c, "inversion")) {
        int k[2] = {TOY_AB, TOY_BA};
        dfs("inversion-dpor", scenario(2, k, two, NULL), 1);
    } else if (!strcmp(c, "spin")) {
        int k[2] = {TOY_WAIT, TOY_SET};
        dfs("spin-other-cpu", scenario(2, k, two, dispatch), 1);
        dfs("spin-same-cpu", scenario(2, k, same, dispatch), 1);
    } else if (!strcmp(c, "callback")) {
        int k[2] = {TOY_RACY, TOY_RACY};
        FR_RUN_SPEC run = {0};
        run.strategy = FR_STRAT_CALLBACK;
        run.max_steps = 1000;
        fr_set_pick_hook(pick_highest);
        int rc = fr_run(scenario(2, k, two, NULL), &run);
        printf("picks=%d first=", g_picks);
        FR_STEP s;
        for (int i = 0; i < fr_steps(); i++) {
            fr_step(i, &s);
            printf("%d", s.actor);
        }
        printf("\n");
        print_run("callback-hook", rc);
        fr_set_pick_hook(NULL);
        print_run("callback-none", fr_run(scenario(2, k, two, NULL), &run));
    } else if (!strcmp(c, "no-model") || !strcmp(c, "bad-op")) {
        int k[2] = {TOY_RACY, !strcmp(c, "bad-op") ? 99 : TOY_RACY};
        FR_RUN_SPEC run = {0};
        print_run(c, fr_run(scenario(2, k, two, NULL), &run));
    } else {
        fprintf(stderr, "unknown case %s\n", c);
        return 2;
    }
    return 0;
}
