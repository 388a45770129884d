# gdb commands for cofcgi coroutines, in a live process or a core file:
#
#   (gdb) source tools/gdb/cofcgi.py
#   (gdb) cofcgi coroutines          every coroutine of every thread: id, name, state, stack
#   (gdb) cofcgi bt 57               the backtrace of coroutine #57 (its thread is selected)
#
# Nothing is written to the process: `cofcgi bt` hands gdb the coroutine's saved registers
# through an unwinder (gdb.unwinder), so it works on a core file too. Frame #0 of that
# backtrace is the thread's own innermost frame; the coroutine's frames follow from #1.
# The saved registers sit in the frame cofcgi_switch_context left at Coroutine::sp
# (runtime/src/arch/context_layout.h, x86-64 only): r12 r13 r14 r15 rbx rbp at 8..48, the
# resume address at 56, and the coroutine's stack pointer is sp + 64.
# Needs the runtime's debug info (a RelWithDebInfo or Debug build).

import gdb
import gdb.unwinder

STATES = {0: "created", 1: "running", 2: "suspended", 3: "parked", 4: "ready", 5: "done"}
FRAME_SIZE = 64
SAVED = (("r12", 8), ("r13", 16), ("r14", 24), ("r15", 32), ("rbx", 40), ("rbp", 48))


def scheduler_of_selected_thread():
    try:
        s = gdb.parse_and_eval("'co::detail::Scheduler::tls_scheduler_'")
    except gdb.error:
        return None
    return s if int(s) != 0 else None


def coroutines_of(scheduler):
    """Yields the Coroutine values on the scheduler's list of live coroutines."""
    # The type from the scheduler's own member: a lookup by name needs the right scope.
    coroutine_type = scheduler["main_"].type.strip_typedefs()
    offset = next(f.bitpos // 8 for f in coroutine_type.fields() if f.name == "all_link")
    head = scheduler["all_"].address
    node = scheduler["all_"]["next"]
    seen = 0
    while int(node) != 0 and int(node) != int(head) and seen < 10000000:
        yield gdb.Value(int(node) - offset).cast(coroutine_type.pointer()).dereference()
        node = node["next"]
        seen += 1


def each_thread():
    """Yields (thread, scheduler) for each thread that has a scheduler."""
    selected = gdb.selected_thread()
    try:
        for thread in gdb.selected_inferior().threads():
            thread.switch()
            scheduler = scheduler_of_selected_thread()
            if scheduler is not None:
                yield thread, scheduler.dereference()
    finally:
        if selected is not None and selected.is_valid():
            selected.switch()


def describe(co):
    name = co["name"]
    text = name.string() if int(name) != 0 else "(unnamed)"
    state = STATES.get(int(co["state"]), str(int(co["state"])))
    wait = co["wait"]
    kind = str(wait["kind"]).split("::")[-1]
    waits = ""
    if state == "parked" and kind != "none":
        waits = " on %s fd %d" % (kind, int(wait["fd"])) if kind != "sleep" else " in sleep"
    return "#%d %s: %s%s" % (int(co["id"]), text, state, waits)


class FrameId:
    """What create_unwind_info wants: any object with sp and pc (gdb.unwinder.FrameId
    exists only from gdb 14 on)."""

    def __init__(self, sp, pc):
        self.sp = sp
        self.pc = pc


class CoroutineUnwinder(gdb.unwinder.Unwinder):
    """Unwinds frame #0 of the selected thread into a coroutine's saved frame, once."""

    def __init__(self):
        super().__init__("cofcgi-coroutine")
        self.sp = None

    def __call__(self, pending_frame):
        if self.sp is None:
            return None
        sp = self.sp
        self.sp = None
        words = gdb.lookup_type("unsigned long").pointer()
        frame = gdb.Value(sp).cast(words)
        this_id = FrameId(pending_frame.read_register("rsp"), pending_frame.read_register("rip"))
        info = pending_frame.create_unwind_info(this_id)
        for register, at in SAVED:
            info.add_saved_register(register, frame[at // 8])
        info.add_saved_register("rip", frame[56 // 8])
        info.add_saved_register("rsp", gdb.Value(sp + FRAME_SIZE))
        return info


UNWINDER = CoroutineUnwinder()
gdb.unwinder.register_unwinder(None, UNWINDER, replace=True)


class CofcgiPrefix(gdb.Command):
    """cofcgi coroutines | cofcgi bt ID: cofcgi's coroutines (tools/gdb/cofcgi.py)."""

    def __init__(self):
        super().__init__("cofcgi", gdb.COMMAND_STACK, prefix=True)


class CofcgiCoroutines(gdb.Command):
    """List every coroutine of every thread: id, name, state, what it is parked on."""

    def __init__(self):
        super().__init__("cofcgi coroutines", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        for thread, scheduler in each_thread():
            print("thread %d (LWP %d):" % (thread.num, thread.ptid[1]))
            for co in coroutines_of(scheduler):
                print("  " + describe(co))


class CofcgiBacktrace(gdb.Command):
    """cofcgi bt ID: the backtrace of coroutine #ID (not the running one)."""

    def __init__(self):
        super().__init__("cofcgi bt", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        wanted = int(arg)
        for thread, scheduler in each_thread():
            for co in coroutines_of(scheduler):
                if int(co["id"]) != wanted:
                    continue
                if STATES.get(int(co["state"])) in ("running", "created", "done"):
                    raise gdb.GdbError("coroutine #%d is %s: no saved frame to start from" %
                                       (wanted, STATES.get(int(co["state"]))))
                shared = co["shared"]
                if int(shared) != 0 and int(shared["occupant"]) != int(co.address):
                    raise gdb.GdbError("coroutine #%d's shared stack is copied away" % wanted)
                thread.switch()
                print(describe(co))
                UNWINDER.sp = int(co["sp"])
                gdb.invalidate_cached_frames()
                try:
                    gdb.execute("backtrace")
                finally:
                    UNWINDER.sp = None
                    gdb.invalidate_cached_frames()
                return
        raise gdb.GdbError("no coroutine #%d" % wanted)


CofcgiPrefix()
CofcgiCoroutines()
CofcgiBacktrace()
