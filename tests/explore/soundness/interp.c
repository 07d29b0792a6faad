/*
 * interp.c - a driver variant whose hooks are a generated program (the soundness
 * harness, tests/explore/soundness): one build runs any number of programs.
 *
 * The program comes from the environment variable FLOWRACE_GEN_PROGRAM as
 * integers (gen.py, Program.encode): for each hook in the order Initialize (unused),
 * ClassifyReference, ClassifyDereference, LookupReference (run under the table lock
 * on the flow found), DeleteNotify, ClosedDrained, Sweep (run under the table lock
 * for each open flow; an empty one takes no lock), a block: a count, then that many
 * statements. A statement is OP A B C, then two blocks for the ops that branch.
 * Each statement does exactly the shim calls and flow-field accesses that gen.py's
 * C rendering of it does, in the same order, so a failing program replays as its C
 * file. The variant is compiled with flowrace's access instrumentation (every plain
 * or volatile access of shared memory is a scheduling point): the interpreter's own
 * reads of its program table must not be, so the interpreter is NOTSAN and the
 * flow-field accesses a statement makes live in small instrumented helpers.
 */
#include "flowdata.h"

#include <stdlib.h>
#include <string.h>

#define NOTSAN __attribute__((no_sanitize_thread))
#define ACCESS __attribute__((noinline))

enum {
    G_INC, G_DEC, G_CAS, G_XCHG, G_READ, G_WRITE, G_LOCKED, G_MOVE, G_MOVEL, G_FREE,
    G_RETRY, G_FLAG, G_IFFLAG, G_REFUSE, G_ADD, G_OUTSIDE, G_FIND, G_PREAD, G_PWRITE,
    G_PDEC, G_VREAD, G_RELEASE, G_NOPS
};
enum { H_INIT, H_REF, H_DEREF, H_LOOKUP, H_DELETE, H_DRAINED, H_SWEEP, H_COUNT };

static int P[8192];
static int NP;
static int HookAt[H_COUNT];
static char Loaded[65536];

typedef struct {
    BOOLEAN flag;
    BOOLEAN refuse;
    PKLOCK_QUEUE_HANDLE sweep; /* the sweep's hold of the table lock */
} CTX;

NOTSAN static int has_blocks(int op)
{
    return op == G_DEC || op == G_CAS || op == G_READ || op == G_LOCKED || op == G_RETRY ||
           op == G_IFFLAG || op == G_OUTSIDE || op == G_FIND || op == G_PREAD || op == G_PDEC ||
           op == G_VREAD;
}

NOTSAN static int skip_block(int pc);

NOTSAN static int skip_stmt(int pc)
{
    int op = P[pc];
    pc += 4;
    if (has_blocks(op)) {
        pc = skip_block(pc);
        pc = skip_block(pc);
    }
    return pc;
}

NOTSAN static int skip_block(int pc)
{
    int n = P[pc++];
    for (int k = 0; k < n; k++)
        pc = skip_stmt(pc);
    return pc;
}

NOTSAN static void load(void)
{
    const char *text = getenv("FLOWRACE_GEN_PROGRAM");
    if (!text)
        abort();
    if (strcmp(text, Loaded) == 0)
        return;
    strncpy(Loaded, text, sizeof Loaded - 1);
    NP = 0;
    char *end;
    const char *p = text;
    for (;;) {
        long v = strtol(p, &end, 10);
        if (end == p)
            break;
        P[NP++] = (int)v;
        p = end;
    }
    int pc = 0;
    for (int h = 0; h < H_COUNT; h++) {
        HookAt[h] = pc;
        pc = skip_block(pc);
    }
}

NOTSAN static LONG volatile *field(PFLOW_CONTEXT Flow, int k)
{
    return k == 0 ? &Flow->RefCount : k == 1 ? &Flow->AssocCount : k == 2 ? &Flow->State
         : (LONG volatile *)&Flow->Lock; /* a lock word as data: a deliberate bug */
}

/* the flow-field accesses of the statements that read or write fields as C does */
static ACCESS LONG plain_get(LONG volatile *f) { return *(LONG *)f; }
static ACCESS void plain_set(LONG volatile *f, LONG v) { *(LONG *)f = v; }
static ACCESS LONG plain_dec(LONG volatile *f) { return --*(LONG *)f; }
static ACCESS LONG volatile_get(LONG volatile *f) { return *f; }
static ACCESS UINT64 handle_of(PFLOW_CONTEXT Flow) { return Flow->FlowHandle; }

NOTSAN static void run_block(int pc, PFLOW_CONTEXT Flow, CTX *c);

NOTSAN static void run_stmt(int pc, PFLOW_CONTEXT Flow, CTX *c)
{
    int op = P[pc], a = P[pc + 1], b = P[pc + 2], n = P[pc + 3];
    int then_at = pc + 4, else_at = has_blocks(op) ? skip_block(then_at) : 0;
    KLOCK_QUEUE_HANDLE h;
    switch (op) {
    case G_INC:
        InterlockedIncrement(field(Flow, a));
        break;
    case G_DEC:
        run_block(InterlockedDecrement(field(Flow, a)) == 0 ? then_at : else_at, Flow, c);
        break;
    case G_CAS:
        run_block(InterlockedCompareExchange(field(Flow, a), b, n) == n ? then_at : else_at,
                  Flow, c);
        break;
    case G_XCHG:
        InterlockedExchange(field(Flow, a), b);
        break;
    case G_READ:
        run_block(ReadNoFence(field(Flow, a)) == b ? then_at : else_at, Flow, c);
        break;
    case G_WRITE:
        WriteNoFence(field(Flow, a), b);
        break;
    case G_ADD:
        InterlockedExchangeAdd(field(Flow, a), b);
        break;
    case G_LOCKED:
        KeAcquireInStackQueuedSpinLock(a == 0 ? &g_OpenFlowsLock : &Flow->Lock, &h);
        run_block(then_at, Flow, c);
        KeReleaseInStackQueuedSpinLock(&h);
        break;
    case G_MOVE:
        FlowTableMoveToClosed(Flow);
        break;
    case G_MOVEL:
        FlowTableMoveToClosedLocked(Flow);
        break;
    case G_FREE:
        FlowFree(Flow);
        break;
    case G_RETRY:
        for (int i = 0; (a == 0 || i < a) && !c->flag; i++) {
            run_block(then_at, Flow, c);
            if (c->flag)
                break;
            if (i == a - 1) /* the last try of a bounded retry: its own block */
                run_block(else_at, Flow, c);
            if (b == 0)
                YieldProcessor();
            else
                KeStallExecutionProcessor(1);
        }
        break;
    case G_FLAG:
        c->flag = TRUE;
        break;
    case G_IFFLAG:
        run_block(c->flag ? then_at : else_at, Flow, c);
        break;
    case G_REFUSE:
        c->refuse = TRUE;
        break;
    case G_FIND: /* under the table lock: is the flow still in openFlows? (the lists) */
        run_block(FlowTableLookupLocked(handle_of(Flow)) == Flow ? then_at : else_at, Flow, c);
        break;
    case G_PREAD: /* if (*(LONG *)&Flow->F == B): a plain read */
        run_block(plain_get(field(Flow, a)) == b ? then_at : else_at, Flow, c);
        break;
    case G_PWRITE:
        plain_set(field(Flow, a), b);
        break;
    case G_PDEC: /* if (--*(LONG *)&Flow->F == 0): a plain read, then a plain write */
        run_block(plain_dec(field(Flow, a)) == 0 ? then_at : else_at, Flow, c);
        break;
    case G_VREAD: /* if (*(volatile LONG *)&Flow->F == B): a volatile read */
        run_block(volatile_get(field(Flow, a)) == b ? then_at : else_at, Flow, c);
        break;
    case G_OUTSIDE: /* the sweep drops the table lock, runs the block, takes it again */
        if (c->sweep)
            KeReleaseInStackQueuedSpinLock(c->sweep);
        run_block(then_at, Flow, c);
        if (c->sweep)
            KeAcquireInStackQueuedSpinLock(&g_OpenFlowsLock, c->sweep);
        break;
    case G_RELEASE: /* a release without the acquisition: a deliberate bug */
        KeReleaseSpinLockFromDpcLevel(a == 0 ? &g_OpenFlowsLock : &Flow->Lock);
        break;
    default:
        abort();
    }
}

NOTSAN static void run_block(int pc, PFLOW_CONTEXT Flow, CTX *c)
{
    int n = P[pc++];
    for (int k = 0; k < n; k++) {
        run_stmt(pc, Flow, c);
        pc = skip_stmt(pc);
    }
}

NOTSAN static BOOLEAN run_hook(int hook, PFLOW_CONTEXT Flow, PKLOCK_QUEUE_HANDLE sweep)
{
    CTX c = {FALSE, FALSE, sweep};
    run_block(HookAt[hook], Flow, &c);
    return !c.refuse;
}

VOID FlowVariantInitialize(PFLOW_CONTEXT Flow, ULONG Associations)
{
    load();
    Flow->RefCount = 1 + (LONG)Associations;
    Flow->AssocCount = (LONG)Associations;
    Flow->State = FLOW_STATE_OPEN;
}

BOOLEAN FlowVariantClassifyReference(PFLOW_CONTEXT Flow) { return run_hook(H_REF, Flow, NULL); }

VOID FlowVariantClassifyDereference(PFLOW_CONTEXT Flow) { run_hook(H_DEREF, Flow, NULL); }

PFLOW_CONTEXT FlowVariantLookupReference(UINT64 FlowHandle)
{
    KLOCK_QUEUE_HANDLE h;
    PFLOW_CONTEXT flow;
    BOOLEAN keep = TRUE;

    KeAcquireInStackQueuedSpinLock(&g_OpenFlowsLock, &h);
    flow = FlowTableLookupLocked(FlowHandle);
    if (flow != NULL)
        keep = run_hook(H_LOOKUP, flow, NULL);
    KeReleaseInStackQueuedSpinLock(&h);
    return keep ? flow : NULL;
}

VOID FlowVariantDeleteNotify(PFLOW_CONTEXT Flow, ULONG Association)
{
    UNREFERENCED_PARAMETER(Association);
    run_hook(H_DELETE, Flow, NULL);
}

VOID FlowVariantClosedDrained(PFLOW_CONTEXT Flow) { run_hook(H_DRAINED, Flow, NULL); }

NOTSAN static int sweep_is_empty(void) { return P[HookAt[H_SWEEP]] == 0; }

VOID FlowVariantSweep(VOID)
{
    KLOCK_QUEUE_HANDLE h;
    PFLOW_CONTEXT flow, next;

    if (sweep_is_empty())
        return;
    KeAcquireInStackQueuedSpinLock(&g_OpenFlowsLock, &h);
    for (flow = FlowTableFirstOpenLocked(); flow != NULL; flow = next) {
        next = FlowTableNextOpenLocked(flow);
        run_hook(H_SWEEP, flow, &h);
    }
    KeReleaseInStackQueuedSpinLock(&h);
}
