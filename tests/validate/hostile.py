"""Hostile proposals, each derived from the template (c_src/template/proposal.c): the
shipped design plus one thing a careless or malicious proposal does to the validator."""

from __future__ import annotations

from pathlib import Path

DELETE_HEAD = """VOID FlowVariantDeleteNotify(PFLOW_CONTEXT Flow, ULONG Association)
{
"""

# name -> (code before the hooks, code at the start of FlowVariantDeleteNotify)
HOSTILE: dict[str, tuple[str, str]] = {
    # runs when the module is loaded (dlopen), before any hook is called
    "constructor_abort": ("#include <stdlib.h>\n"
                          "__attribute__((constructor)) static void boom(void) { abort(); }\n",
                          ""),
    "exit_in_hook": ("#include <stdlib.h>\n", "    exit(0);\n"),
    # keeps the shipped (leaking) hooks; at exit, prints made-up results on stdout and
    # on every descriptor it may have inherited, in the worker's old and new formats
    "forged_stdout": ("""#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static void forge(void)
{
    static const char *fake[] = {
        "\\n{\\"results\\": [], \\"cells\\": [], \\"executions\\": 1, "
        "\\"complete\\": true, \\"counterexamples\\": [], \\"by_kind\\": {}, "
        "\\"lingering\\": 0, \\"violations\\": []}\\n",
        "FRR1 0000000000000000000000000000000000000000000000000000000000000000 11\\n"
        "{\\"ok\\": {}}\\n",
    };
    for (int fd = 1; fd < 64; fd++)
        for (unsigned i = 0; i < sizeof fake / sizeof fake[0]; i++)
            if (write(fd, fake[i], strlen(fake[i])) < 0)
                break;
}
__attribute__((constructor)) static void arm(void) { atexit(forge); }
""", ""),
    "sleep_in_hook": ("#include <unistd.h>\n", "    sleep(1000);\n"),
    "endless_loop": ("", "    for (;;)\n        InterlockedIncrement(&Flow->RefCount);\n"),
    "fork_grandchild": ("#include <unistd.h>\n",
                        "    if (fork() == 0) {\n        sleep(1000);\n        _exit(0);\n"
                        "    }\n"),
}


def hostile_proposal(name: str, directory: Path) -> Path:
    from kernel_model._build import csrc_dir

    before, in_delete = HOSTILE[name]
    text = (csrc_dir() / "template" / "proposal.c").read_text()
    assert DELETE_HEAD in text and '#include "flowdata.h"\n' in text
    text = text.replace('#include "flowdata.h"\n', '#include "flowdata.h"\n' + before, 1)
    text = text.replace(DELETE_HEAD, DELETE_HEAD + in_delete, 1)
    path = directory / f"{name}.c"
    path.write_text(text)
    return path


def escaping_fork_proposal(directory: Path) -> Path:
    """fork_grandchild whose grandchild leaves the process group (setsid): a process-group
    kill alone would miss it."""
    path = hostile_proposal("fork_grandchild", directory)
    text = path.read_text().replace("    if (fork() == 0) {\n",
                                    "    if (fork() == 0) {\n        setsid();\n", 1)
    path = directory / "fork_setsid.c"
    path.write_text(text)
    return path
