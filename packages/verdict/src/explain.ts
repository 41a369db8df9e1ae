import type { FindingKind } from '@kgrader/schemas';

/** Plain-words explanations of each report family, for students reading their results. */
export const FINDING_EXPLANATIONS: Record<FindingKind, string> = {
  kasan:
    'KASAN caught a memory access to bytes your code does not own: past the end of a buffer (out-of-bounds), to memory already freed (use-after-free), or a second kfree of the same pointer (double-free). Under concurrency this usually means two threads used or replaced a shared buffer without holding a lock: one freed it while another was still copying into or out of it.',
  kcsan: 'KCSAN saw two CPUs access the same memory at the same time, at least one writing, without synchronisation: a data race. Protect the shared state with a lock or use atomic operations.',
  kfence: 'KFENCE caught an out-of-bounds or use-after-free access on a sampled allocation: the same class of bug KASAN reports.',
  lockdep:
    'lockdep proved that your locking can deadlock: two locks are taken in opposite orders on different paths (A then B here, B then A there), or a lock is taken again by the thread already holding it. Always take locks in one global order, and release every lock you take.',
  'atomic-sleep':
    'Your code called a function that may sleep (copy_from_user/copy_to_user, kmalloc with GFP_KERNEL, mutex_lock, msleep...) while in atomic context: holding a spinlock, with interrupts or preemption disabled. Sleeping there can deadlock the CPU. Copy user data into a kernel buffer before taking the spinlock, use a mutex instead, or allocate with GFP_ATOMIC.',
  bug: 'The kernel hit a BUG(): an internal consistency check failed because of what the driver did, and the kernel stopped the offending task.',
  oops: 'The kernel crashed on a bad memory access (a NULL or invalid pointer dereference) in kernel mode. In a driver this is usually a pointer used before it was set, after it was freed, or an allocation whose failure was not checked.',
  panic: 'The kernel panicked: it stopped completely. With the grading kernel any oops panics, so the first report above it is the cause.',
  warning: 'A WARN_ON check in the kernel fired: the driver used a kernel API in a way the API does not allow (wrong state, wrong context, double registration...).',
  'hung-task':
    'A task was stuck in uninterruptible sleep for a long time: typically a deadlock (two threads each waiting for a lock the other holds) or a wait for an event that never comes.',
  'soft-lockup': 'A CPU spun in kernel code for many seconds without scheduling: an endless loop, or spinning on a lock that is never released.',
  'rcu-stall': 'RCU could not make progress because a CPU stayed in a read-side critical section or with preemption disabled for too long: usually an endless loop.',
  kmemleak:
    'kmemleak found memory your module allocated that nothing points to any more after it was unloaded: a kmalloc without its kfree (in the exit function, on an error path, or when a buffer is replaced).',
  ubsan: 'UBSAN detected undefined behaviour in C: an array index out of bounds, a shift too large, a signed overflow, or an invalid value loaded.',
  'list-corruption':
    'A linked list\'s pointers were corrupted: an entry was added twice, deleted twice, or the list was changed by two threads at once without a lock.',
  refcount: 'A reference count went wrong: it dropped below zero or was incremented from zero, usually an object put once too often or used after its last put.',
  'console-flood':
    'Your module printed so much to the kernel console that it drowns everything else and slows the whole machine: printing to a serial console is slow and happens with the printing CPU busy. Log once, not per call or in a loop; use pr_debug/dev_dbg for debugging output, or the _ratelimited variants.',
  policy:
    'The exercise allows a module to use only the kernel functions and instructions a character driver needs (allocation, locking, copying to and from user space, device registration, wait queues, timers...). Your module uses one outside that set, so it was not loaded. Use the driver APIs the exercise is about; ask your instructor if you believe the exercise should allow it.',
  tamper:
    'Your module interfered with the grading itself: it wrote to the harness\'s result channel, printed fake test markers, changed the kernel\'s log settings, or kept kernel reports off the console. A driver never needs to do any of this, so the submission fails.',
  'harness-lost':
    'After your module was loaded the test harness stopped (it was killed, or the VM stopped answering). Everything that happens after the module is loaded is the module\'s responsibility: a driver that corrupts memory, kills processes or hangs the machine causes this.',
  oom:
    'The kernel ran out of memory and killed a process to free some. A driver causes this by allocating without bound: memory per write or per open that is never freed, or sizes taken from user space without a limit. Cap what one user can make the driver allocate, and free what is no longer needed.',
  'stack-frame':
    'A function of your module uses a large stack frame. Kernel stacks are 16 KiB for the whole call chain, shared with interrupts: a big local array can overflow it. Allocate large buffers with kmalloc instead of declaring them on the stack.',
  'stack-corruption': 'The kernel stack was overwritten: a local array was written past its end. Kernel stacks are small (16 KiB): large buffers belong on the heap.',
};

export function explainFinding(kind: FindingKind): string {
  return FINDING_EXPLANATIONS[kind];
}
