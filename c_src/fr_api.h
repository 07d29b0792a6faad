/*
 * fr_api.h - what Python (kernel_model) sees of a compiled driver variant.
 *
 * Everything between CDEF-BEGIN and CDEF-END is fed verbatim to cffi's cdef,
 * so it stays in the subset cffi parses: plain typedefs, prototypes and
 * integer #defines. One copy of each constant: kernel_model reads them from
 * the compiled module.
 */
#ifndef FLOWRACE_FR_API_H
#define FLOWRACE_FR_API_H
#include <stdint.h>

/* CDEF-BEGIN */
/* driver <-> user-space interface constants (DESIGN.md) */
#define FLOW_CLOSED_MASK 16
#define TCP_FLOW_ESTABLISHED_MASK 32
#define FLOW_DIRECTION_SHIFT 8
#define FLOW_DIRECTION_INBOUND 1
#define FLOW_DIRECTION_OUTBOUND 2
#define CONN_STAT_UNKNOWN 0
#define CONN_STAT_ATTEMPTED 1
#define CONN_STAT_ESTABLISHED 2
#define CONN_STAT_ACKRST 3
#define CONN_STAT_TIMEOUT 4
#define CONN_STAT_EST_SENT_RST 5
#define CONN_STAT_EST_RECV_RST 6

/* scenario operations (one per harness action of an actor) */
#define FR_OP_CLASSIFY 1      /* transport classify through an association's context */
#define FR_OP_LATE_PACKET 2   /* transport classify that finds the flow by handle */
#define FR_OP_DELETE 3        /* flowDeleteFn for one association */
#define FR_OP_POLL 4          /* user space: open-flows read, then closed-flows drain */
#define FR_OP_MARK 5          /* an event with no driver work (agent restart, ...) */

/* packets */
#define FR_PKT_DATA 0
#define FR_PKT_RST_RECV 1
#define FR_PKT_RST_SENT 2
#define FR_PKT_ACKRST 3
#define FR_PKT_TIMEOUT 4
#define FR_PKT_FIN 5
#define FR_PKT_RETRANSMIT 6

/* scheduling-point operations, as the trace names them */
#define FR_SP_BEGIN 1
#define FR_SP_INC 2
#define FR_SP_DEC 3
#define FR_SP_CAS 4
#define FR_SP_XCHG 5
#define FR_SP_ADD 6
#define FR_SP_OR 7
#define FR_SP_AND 8
#define FR_SP_READ 9
#define FR_SP_WRITE 10
#define FR_SP_LOCK 11
#define FR_SP_UNLOCK 12
#define FR_SP_LIST_INSERT 13
#define FR_SP_LIST_REMOVE 14
#define FR_SP_LIST_READ 15
#define FR_SP_ALLOC 16
#define FR_SP_FREE 17
#define FR_SP_YIELD 18
#define FR_SP_STALL 19
/* instrumented accesses of the variant's own C code (engine/access.c) */
#define FR_SP_PLAIN_READ 20     /* a plain (non-volatile) load of shared memory */
#define FR_SP_PLAIN_WRITE 21    /* a plain store */
#define FR_SP_VOLATILE_READ 22  /* a volatile load: a relaxed atomic when aligned, <= 8 bytes */
#define FR_SP_VOLATILE_WRITE 23 /* a volatile store: likewise */
#define FR_SP_ATOMIC 24         /* a C11/GNU atomic read-modify-write (__atomic_*, __sync_*) */
#define FR_SP_COUNT 25

/* violation kinds */
#define FR_V_LEAK 1
#define FR_V_USE_AFTER_FREE 2
#define FR_V_DOUBLE_FREE 3
#define FR_V_DOUBLE_MOVE 4
#define FR_V_REFCOUNT_UNDERFLOW 5
#define FR_V_FREED_WHILE_LINKED 6
#define FR_V_LIVELOCK 7
#define FR_V_DEADLOCK 8
#define FR_V_IRQL 9 /* a call at an IRQL it does not allow (...AtDpcLevel below DISPATCH) */
#define FR_V_DATA_RACE 10       /* two conflicting accesses, one plain, unordered (engine/race.c) */
#define FR_V_OUT_OF_BOUNDS 11   /* an access outside every live pool block of the arena */
#define FR_V_COUNT 12

/* strategies of a controlled run */
#define FR_STRAT_SCHEDULE 0     /* segments: explicit, then run-to-block default */
#define FR_STRAT_RANDOM 1       /* seeded uniform choice at every point */
#define FR_STRAT_EVENT_ORDER 2  /* run the scenario's events in a given order */
#define FR_STRAT_CALLBACK 3     /* ask Python at every point */
#define FR_STRAT_PCT 4          /* priorities with depth-1 change points */
#define FR_STRAT_DFS 5          /* the explorer's depth-first search (fr_dfs_*) */

#define FR_SEG_STEPS 0          /* the actor takes exactly arg steps */
#define FR_SEG_UNTIL_EVENT 1    /* the actor runs until event arg has ended */
#define FR_SEG_UNTIL_BLOCKED 2  /* the actor runs until it finishes or cannot go on */

/* run return codes */
#define FR_OK 0
#define FR_ERR_SCHEDULE 1       /* the schedule names an actor that cannot run */
#define FR_ERR_SPEC 2           /* the scenario spec is inconsistent */
#define FR_ERR_CALLBACK 3       /* the Python strategy returned a bad choice */
#define FR_ERR_RESOURCES 4

/* where a flow is */
#define FR_WHERE_NONE 0
#define FR_WHERE_OPEN 1
#define FR_WHERE_CLOSED 2

/* object kinds in a trace step */
#define FR_OBJ_NONE 0
#define FR_OBJ_POOL 1     /* index = flow number (or -1), offset inside the block */
#define FR_OBJ_GLOBAL 2   /* index = named global, see fr_global_name */

typedef struct FR_FLOW_SPEC {
    uint64_t handle;
    uint64_t cookie;
    uint32_t pid;
    int family;          /* 4 or 6 */
    int protocol;        /* 6 TCP, 17 UDP */
    int n_assoc;         /* WFP associations (flowDeleteFn calls) */
    int outbound;
    uint16_t local_port;
    uint16_t remote_port;
    uint8_t local_addr[16];
    uint8_t remote_addr[16];
} FR_FLOW_SPEC;

typedef struct FR_OP_SPEC {
    int kind;
    int flow;
    int assoc;
    int packet;
    int bytes;
    int inbound;         /* packets: 1 received, 0 sent */
    int irql;            /* PASSIVE_LEVEL 0 or DISPATCH_LEVEL 2 */
    int client;          /* polls: the agent client */
    int poll;            /* polls: the poll's number */
    int event;           /* first event id; classify and late packet own event and event+1 */
    int n_after;
    int after[8];        /* events that must have ended before this op starts */
} FR_OP_SPEC;

typedef struct FR_ACTOR_SPEC {
    int cpu;
    int first_op;
    int n_ops;
} FR_ACTOR_SPEC;

typedef struct FR_SCENARIO_SPEC {
    int n_flows;
    const FR_FLOW_SPEC *flows;
    int n_actors;
    const FR_ACTOR_SPEC *actors;
    int n_ops;
    const FR_OP_SPEC *ops;
    int n_events;
    int open_capacity;
    int buckets;
} FR_SCENARIO_SPEC;

typedef struct FR_SEGMENT {
    int actor;
    int kind;
    int arg;
} FR_SEGMENT;

typedef struct FR_RUN_SPEC {
    int strategy;
    uint64_t seed;
    int n_segments;
    const FR_SEGMENT *segments;
    int n_order;
    const int *order;
    int pct_depth;
    int pct_steps;       /* expected steps k, for the change points */
    int max_steps;
    int stop_on_violation;
    int record_states;   /* feed the state graph (fr_graph_*) */
} FR_RUN_SPEC;

typedef struct FR_STEP {
    int actor;
    int op;
    int event;
    int obj_kind;
    int obj_index;
    int obj_offset;
    int64_t value;       /* what the operation returned or wrote */
} FR_STEP;

typedef struct FR_VIOLATION {
    int kind;
    int step;
    int actor;
    int flow;
    char detail[400];    /* "@pc:HEX@" names a code address (offset in the module): the
                          * Python side turns it into file:line */
} FR_VIOLATION;

typedef struct FR_FLOW_RECORD {
    uint64_t handle;
    uint64_t cookie;
    uint32_t pid;
    uint16_t family;
    uint16_t protocol;
    uint32_t flags;
    uint8_t local_addr[16];
    uint8_t remote_addr[16];
    uint16_t local_port;
    uint16_t remote_port;
    uint64_t packets_in;
    uint64_t packets_out;
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t timestamp;
    uint32_t rtt;
    uint32_t rtt_var;
    uint32_t retransmits;
    uint32_t conn_status;
} FR_FLOW_RECORD;

typedef struct FR_POLL_RECORD {
    int op;              /* scenario op index of the poll, -1 for the settle poll */
    int poll;
    int client;
    int closed;          /* 0 open-flows snapshot, 1 closed-flows drain */
    int step;            /* trace step at which it was read */
    FR_FLOW_RECORD rec;
} FR_POLL_RECORD;

typedef struct FR_STATS {
    int64_t open_table_adds;
    int64_t open_table_removes;
    int64_t closed_table_adds;
    int64_t closed_table_removes;
    int64_t num_packets_after_flow_closed;
    int64_t flows_dropped_table_full;
    int64_t packets_classified;
    int64_t classify_refused;
    int64_t flows_allocated;
    int64_t flows_freed;
} FR_STATS;

typedef struct FR_FLOW_STATE {
    int where;
    int freed;
    int refcount;
    int assoc_count;
    int state;
    int deletes_done;
} FR_FLOW_STATE;

typedef struct FR_BATCH_RESULT {
    int executions;
    int violating;
    int errors;
    int64_t steps;
    int by_kind[16];
    uint64_t first_seed[16];
} FR_BATCH_RESULT;

typedef struct FR_STRESS_SPEC {
    int connections;
    int classify_threads;
    int delete_threads;
    int late_threads;
    int data_packets;
    int late_packets;
    int noise_permille;
    int hold_spins;
    int open_capacity;
    int buckets;
    int poll_interval_us;
    int samples;
    uint64_t seed;
    double max_seconds;
    /* the CPU time one callback may spin or wait for a lock without a deadlock cycle
     * before the run stops as timed out (0: 10 s) */
    double hang_cpu_seconds;
} FR_STRESS_SPEC;

typedef struct FR_STRESS_RESULT {
    double seconds;
    int64_t operations;
    int completed;
    int lingering;
    int open_at_end;
    int open_peak;
    int n_samples;
    double sample_t[256];
    int sample_open[256];
    int sample_lingering[256];
} FR_STRESS_RESULT;

int fr_run(const FR_SCENARIO_SPEC *scenario, const FR_RUN_SPEC *run);
int fr_run_batch(const FR_SCENARIO_SPEC *scenario, const FR_RUN_SPEC *run, uint64_t first_seed,
                 int executions, FR_BATCH_RESULT *out);
const char *fr_error_text(void);
const char *fr_build_id(void);

int fr_steps(void);
int fr_spin_steps(void);
void fr_step(int i, FR_STEP *out);
int fr_violations(void);
void fr_violation(int i, FR_VIOLATION *out);
int fr_records(void);
void fr_record(int i, FR_POLL_RECORD *out);
void fr_stats(FR_STATS *out);
int fr_flow_count(void);
void fr_flow_state(int flow, FR_FLOW_STATE *out);
const char *fr_global_name(int index);
int fr_flow_field_offset(const char *field);

int fr_stress(const FR_STRESS_SPEC *spec, FR_STRESS_RESULT *out);

/* How far the running stress run has got (for a progress line; another thread may call
 * it while fr_stress runs): returns 0 when no run is under way. */
typedef struct FR_STRESS_PROGRESS {
    int64_t operations;
    int connections;     /* connections whose delete notifications have all run */
    int lingering;       /* of those, still in openFlows */
    double seconds;
} FR_STRESS_PROGRESS;
int fr_stress_progress(FR_STRESS_PROGRESS *out);
/* Why the last stress run timed out (a spin or a lock wait past its budget with no
 * deadlock cycle), or "" when it did not. */
const char *fr_stress_timeout(void);

/* Write the actor chosen at every step of controlled executions, one byte each, to
 * file descriptor `fd` as it happens (-1: off). A variant that crashes or hangs the
 * process leaves the interleaving that led there in the file. */
void fr_set_step_log(int fd);

/* ---- exploration (engine/explore.c) ------------------------------------------ */
/* The last execution's schedule: the actor of each step, the actors enabled
 * before it (bit i = actor i), whether it changed shared memory. Any may be NULL.
 * Returns the number of steps. */
int fr_trace_bulk(int *actors, uint32_t *enabled, unsigned char *wrote, int cap);
/* Kinds of the last execution's violations: bit k = FR_V_* k. */
uint32_t fr_violation_kinds(void);

typedef struct FR_DFS_SPEC {
    int reduction;          /* 1: DPOR with sleep sets; 0: every enabled actor everywhere */
    int preemption_bound;   /* < 0: none */
    int split_depth;        /* > 0: enumerate the shards at this depth instead of searching */
    int n_prefix;           /* > 0: search only below this schedule prefix (a shard) */
    const int *prefix;
    uint32_t prefix_sleep;  /* the sleep set at the end of the prefix */
    int count_interleavings;/* sum the linearizations of every explored execution */
    uint32_t stop_kinds;    /* stop at the first execution showing one of these kinds */
    int n_spin_ops;         /* operations already known to spin (from fr_dfs_spin_ops) */
    const unsigned char *spin_ops;
    int stateful;           /* 1: keep a visited set of states (engine/stateful.c), with or
                             * without the reduction; no preemption bound */
    int no_checkpoints;     /* stateful: replay every execution's prefix instead of resuming
                             * at a checkpoint (engine/checkpoint.c; the same search) */
    int checkpoint_check;   /* stateful, a test: replay, and compare the state replayed with
                             * the checkpoint there (a difference is an FR_ERR_CALLBACK) */
} FR_DFS_SPEC;

typedef struct FR_DFS_STATUS {
    int64_t executions;     /* executions run (maximal or cut) */
    int64_t maximal;        /* executions that ran to their end */
    int64_t sleep_blocked;  /* cut: every enabled actor was asleep (redundant) */
    int64_t bound_pruned;   /* choices the preemption bound refused */
    int64_t steps;
    int64_t violating;
    int64_t by_kind[16];
    double interleavings;   /* linearizations of the maximal executions explored */
    int interleavings_exact;/* 0: some execution was too large to count */
    int complete;           /* nothing left to explore */
    int stopped;            /* a stop kind was found */
    int max_depth;
    double coverage;        /* estimate of the explored fraction, in [0, 1] */
    int shards;             /* split mode: shards recorded */
    int restarts;           /* searches started over: a spinning operation was found */
    int64_t states;         /* stateful: distinct states visited */
    int64_t revisits;       /* stateful: executions cut at a state visited before */
    int64_t visited_bytes;  /* stateful: memory of the visited set */
    int64_t step_bound_hit; /* executions that reached the step bound (stateful: incomplete) */
    int reduced;            /* stateful: the reduction held to the end (no cycle dropped it) */
    int64_t resumed;        /* stateful: executions resumed at a checkpoint, not replayed */
} FR_DFS_STATUS;

int fr_dfs_start(const FR_SCENARIO_SPEC *scenario, const FR_RUN_SPEC *run,
                 const FR_DFS_SPEC *dfs);
int fr_dfs_run(int64_t max_executions, double max_seconds, FR_DFS_STATUS *out);
/* The schedule of the best execution (fewest preemptions, then steps) that showed
 * `kind`; returns its length (-1 if none) and its preemptions in *preemptions. */
int fr_dfs_witness(int kind, int *actors, int cap, int *preemptions);
int fr_dfs_shard(int index, int *actors, int cap, uint32_t *sleep);
/* Which scenario operations (and, last, the settle poll) the search saw spin: a flag
 * each. Returns how many flags there are. */
int fr_dfs_spin_ops(unsigned char *out, int cap);

typedef struct FR_GRAPH_NODE {
    uint64_t hash;
    int initial;
    int terminal;
    uint32_t kinds;         /* violations seen at this terminal state */
    int64_t visits;
    uint64_t end_hash;      /* terminal: the state without history (how many steps a CPU
                               that could not finish took in its operation) */
} FR_GRAPH_NODE;

typedef struct FR_GRAPH_EDGE {
    int src;
    int dst;
    int actor;
    int op;
    int obj_kind;
    int obj_index;
    int obj_offset;
    int64_t count;
} FR_GRAPH_EDGE;

void fr_graph_reset(int max_edges);
int fr_graph_nodes(void);
int fr_graph_edges(void);
int fr_graph_truncated(void);
void fr_graph_node(int index, FR_GRAPH_NODE *out);
void fr_graph_edge(int index, FR_GRAPH_EDGE *out);

/* CDEF-END */

#endif
