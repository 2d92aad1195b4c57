// The relay's wake-up on a commit, shared by the pg outbox store and its in-memory twin: a
// notification that arrives while nobody waits is kept (so a commit between a fetch and the next
// wait is not left to the poll), and consumed by the next fetch (clear) or wait.
export function createNotifyLatch() {
  let notified = false;
  let wake: (() => void) | null = null;
  return {
    /** A commit was notified. */
    notify() {
      notified = true;
      wake?.();
    },
    /** A fetch began: what was notified before is in it. */
    clear() {
      notified = false;
    },
    /** Resolves on the next notification (at once if one is kept), or after `timeoutMs`. */
    wait(timeoutMs: number): Promise<"notified" | "timeout"> {
      if (notified) {
        notified = false;
        return Promise.resolve("notified");
      }
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          wake = null;
          resolve("timeout");
        }, timeoutMs);
        wake = () => {
          clearTimeout(timer);
          wake = null;
          resolve("notified");
        };
      });
    },
    /** Ends a wait early (shutdown). */
    wakeUp() {
      wake?.();
    },
  };
}
