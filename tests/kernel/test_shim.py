"""The shim keeps Windows semantics: checked from inside a compiled variant."""

CHECKS = [
    "ICX success returns the initial value and stores",
    "ICX failure returns the current value and stores nothing",
    "InterlockedIncrement returns the new value",
    "InterlockedDecrement returns the new value",
    "InterlockedExchange returns the old value",
    "InterlockedExchangeAdd returns the old value",
    "InterlockedOr returns the old value",
    "InterlockedAnd returns the old value",
    "64-bit interlocked operations",
    "IsListEmpty on a new head",
    "InsertTailList order",
    "RemoveHeadList returns the first entry",
    "RemoveEntryList returns TRUE when the list becomes empty",
    "KeAcquireSpinLock returns the old IRQL and raises to DISPATCH",
    "KeReleaseSpinLock restores the IRQL and frees the lock",
    "ReadNoFence/ReadAcquire see WriteNoFence",
    "WriteRelease stores",
    "ExAllocatePoolWithTag returns distinct blocks",
]


def test_every_primitive_keeps_windows_semantics(test_variant, lingering):
    from kernel_model import run

    out = run(test_variant("shim_probe"), lingering, schedule="clean")
    failed = out.flows[0]["state"]
    assert failed == 0, [c for i, c in enumerate(CHECKS) if failed >> i & 1]
    assert not out.violations
