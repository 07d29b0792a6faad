/*
 * harness.c - the WFP and user-space side of a controlled execution: it
 * creates the scenario's flows (each enters openFlows with all its
 * associations before any classify can see it), performs each actor's
 * operations through the core, and checks for leaks once everyone is done.
 * It is the model the engine runs: the table at the end (fr_model.h) is the
 * engine's only way in, registered when the module is loaded.
 */
#include "flowcore.h"
#include "fr_engine.h"
#include "fr_model.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct harness_flow {
    PFLOW_CONTEXT flow;
    int deletes_done;
} harness_flow;

static harness_flow *g_flows;
static int g_nflows, g_flows_cap;

typedef struct poll_context {
    int op, poll, client;
} poll_context;

static void PollSink(void *Context, const FR_FLOW_RECORD *Record, int Closed)
{
    const poll_context *pc = Context;
    FR_POLL_RECORD r;
    r.op = pc->op;
    r.poll = pc->poll;
    r.client = pc->client;
    r.closed = Closed;
    r.step = 0;
    r.rec = *Record;
    fr_add_record(&r);
}

static int fr_harness_setup(const FR_SCENARIO_SPEC *sc)
{
    if (FlowCoreReset(sc->buckets, sc->open_capacity) != 0)
        return -1;
    if (sc->n_flows > g_flows_cap) {
        harness_flow *f = realloc(g_flows, sizeof(harness_flow) * (size_t)sc->n_flows);
        if (!f)
            return -1;
        g_flows = f;
        g_flows_cap = sc->n_flows;
    }
    g_nflows = sc->n_flows;
    for (int f = 0; f < sc->n_flows; f++) {
        g_flows[f].flow = FlowCoreCreate(&sc->flows[f], (ULONG)f);
        g_flows[f].deletes_done = 0;
    }
    if (g_nflows > 0) /* (deletes_done changes as the deletes run) */
        fr_register_state(g_flows, sizeof(harness_flow) * (size_t)g_nflows);
    return 0;
}

static void fr_harness_do_op(int actor, int opi)
{
    (void)actor;
    const FR_SCENARIO_SPEC *sc = fr_scenario();
    const FR_OP_SPEC *op = &sc->ops[opi];
    harness_flow *h = (op->flow >= 0 && op->flow < g_nflows) ? &g_flows[op->flow] : NULL;
    int64_t now = fr_timestamp();
    switch (op->kind) {
    case FR_OP_CLASSIFY:
        /* Through the association's context: the flow exists as long as the
         * association does (the scenario orders this before its delete). */
        if (h && h->flow)
            FlowCoreClassify(h->flow, op->packet, op->bytes, op->inbound, now);
        else
            fr_event_advance();
        break;
    case FR_OP_LATE_PACKET:
        FlowCoreLatePacket(sc->flows[op->flow].handle, op->packet, op->bytes, op->inbound, now);
        break;
    case FR_OP_DELETE:
        if (h && h->flow)
            FR_HOOK(FlowVariantDeleteNotify, FlowVariantDeleteNotify(h->flow, (ULONG)op->assoc));
        if (h)
            h->deletes_done++;
        break;
    case FR_OP_POLL: {
        poll_context pc = {opi, op->poll, op->client};
        FlowCoreReadOpen(PollSink, &pc);
        fr_stack_scrub(4096); /* the records it read are behind it */
        FlowCoreDrainClosed(PollSink, &pc);
        break;
    }
    default: /* FR_OP_MARK: an agent-side event, nothing in the driver */
        break;
    }
}

static void fr_harness_settle_poll(void)
{
    poll_context pc = {-1, -1, -1};
    FlowCoreReadOpen(PollSink, &pc);
    fr_stack_scrub(4096);
    FlowCoreDrainClosed(PollSink, &pc);
}

static void fr_harness_check_quiescent(void)
{
    const FR_SCENARIO_SPEC *sc = fr_scenario();
    for (int f = 0; f < g_nflows; f++) {
        PFLOW_CONTEXT flow = g_flows[f].flow;
        if (!flow || fr_pool_is_freed(flow) || g_flows[f].deletes_done < sc->flows[f].n_assoc)
            continue;
        if (flow->Where == FR_WHERE_OPEN)
            fr_report(FR_V_LEAK, f,
                      "flow %d (cookie 0x%llx) is still in openFlows after all %d associations "
                      "were deleted and every transient reference was dropped (refcount %d)",
                      f, (unsigned long long)flow->FlowCookie, sc->flows[f].n_assoc,
                      (int)flow->RefCount);
        else if (flow->Where == FR_WHERE_CLOSED)
            fr_report(FR_V_LEAK, f, "flow %d is still in closedFlows after the final drain", f);
        else
            fr_report(FR_V_LEAK, f,
                      "flow %d was handed to user space but never freed (refcount %d)", f,
                      (int)flow->RefCount);
    }
}

/* ---- results about flows and the core -------------------------------------------------- */
int fr_flow_count(void) { return g_nflows; }

void fr_flow_state(int f, FR_FLOW_STATE *out)
{
    memset(out, 0, sizeof *out);
    if (f < 0 || f >= g_nflows || !g_flows[f].flow) {
        out->where = -1;
        return;
    }
    PFLOW_CONTEXT flow = g_flows[f].flow;
    out->where = flow->Where;
    out->freed = fr_pool_is_freed(flow);
    out->refcount = flow->RefCount;
    out->assoc_count = flow->AssocCount;
    out->state = flow->State;
    out->deletes_done = g_flows[f].deletes_done;
}

void fr_stats(FR_STATS *out) { *out = g_FlowStats; }

static const struct {
    const char *name;
    size_t offset;
    size_t size;
} g_fields[] = {
#define FIELD(f) {#f, offsetof(FLOW_CONTEXT, f), sizeof(((FLOW_CONTEXT *)0)->f)}
    FIELD(Link), FIELD(Where), FIELD(Index), FIELD(RefCount), FIELD(AssocCount), FIELD(State),
    FIELD(Lock), FIELD(FlowHandle), FIELD(FlowCookie), FIELD(ProcessId), FIELD(Family),
    FIELD(Protocol), FIELD(Flags), FIELD(LocalAddr), FIELD(RemoteAddr), FIELD(LocalPort),
    FIELD(RemotePort), FIELD(PacketsIn), FIELD(PacketsOut), FIELD(BytesIn), FIELD(BytesOut),
    FIELD(Timestamp), FIELD(Rtt), FIELD(RttVar), FIELD(Retransmits), FIELD(ConnStatus),
#undef FIELD
};

static const char *fr_flow_field_at(int offset, int *start)
{
    for (size_t i = 0; i < sizeof g_fields / sizeof g_fields[0]; i++)
        if ((size_t)offset >= g_fields[i].offset &&
            (size_t)offset < g_fields[i].offset + g_fields[i].size) {
            *start = (int)g_fields[i].offset;
            return g_fields[i].name;
        }
    return NULL;
}

int fr_flow_field_offset(const char *field)
{
    static const struct {
        const char *name;
        size_t offset;
    } fields[] = {
        {"Link", offsetof(FLOW_CONTEXT, Link)},
        {"Where", offsetof(FLOW_CONTEXT, Where)},
        {"RefCount", offsetof(FLOW_CONTEXT, RefCount)},
        {"AssocCount", offsetof(FLOW_CONTEXT, AssocCount)},
        {"State", offsetof(FLOW_CONTEXT, State)},
        {"Lock", offsetof(FLOW_CONTEXT, Lock)},
        {"Flags", offsetof(FLOW_CONTEXT, Flags)},
        {"PacketsIn", offsetof(FLOW_CONTEXT, PacketsIn)},
        {"PacketsOut", offsetof(FLOW_CONTEXT, PacketsOut)},
        {"BytesIn", offsetof(FLOW_CONTEXT, BytesIn)},
        {"BytesOut", offsetof(FLOW_CONTEXT, BytesOut)},
        {"Retransmits", offsetof(FLOW_CONTEXT, Retransmits)},
        {"ConnStatus", offsetof(FLOW_CONTEXT, ConnStatus)},
        {"Timestamp", offsetof(FLOW_CONTEXT, Timestamp)}, /* left out of state hashes */
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (strcmp(fields[i].name, field) == 0)
            return (int)fields[i].offset;
    return -1;
}

/* ---- the model as the engine sees it (fr_model.h) --------------------------------------- */
/* A classify and a late packet own two events (reference taken, released); the rest one. */
static int fr_harness_op_events(const FR_OP_SPEC *op)
{
    return (op->kind == FR_OP_CLASSIFY || op->kind == FR_OP_LATE_PACKET) ? 2 : 1;
}

/* Every operation but a poll and a mark names one of the scenario's flows. */
static int fr_harness_check_op(const FR_SCENARIO_SPEC *sc, int opi, char *why, size_t n)
{
    const FR_OP_SPEC *op = &sc->ops[opi];
    if ((op->flow < 0 || op->flow >= sc->n_flows) && op->kind != FR_OP_POLL &&
        op->kind != FR_OP_MARK) {
        snprintf(why, n, "unknown flow %d", op->flow);
        return -1;
    }
    return 0;
}

static const fr_model g_flow_model = {
    .op_events = fr_harness_op_events,
    .check_op = fr_harness_check_op,
    .setup = fr_harness_setup,
    .do_op = fr_harness_do_op,
    .settle = fr_harness_settle_poll,
    .check_quiescent = fr_harness_check_quiescent,
    .describe_field = fr_flow_field_at,
    .unhashed_offset = (int)offsetof(FLOW_CONTEXT, Timestamp), /* the step number */
};

/* Registered when the module (or the stress program) is loaded, before anything can
 * call the engine. */
__attribute__((constructor)) static void fr_harness_register(void)
{
    fr_model_register(&g_flow_model);
}
