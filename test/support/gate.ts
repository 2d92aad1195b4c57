// A failpoint for tests: code under test awaits `gate.point()`; a test arms the gate, learns when
// the code reached the point, does what must happen "between these two lines", then releases it.
export function createGate() {
  let armed: { reached: () => void; released: Promise<void> } | null = null;
  return {
    /** The next call of point() stops there until the returned release() is called. */
    arm() {
      let reached!: () => void;
      let release!: () => void;
      const reachedP = new Promise<void>((r) => (reached = r));
      const released = new Promise<void>((r) => (release = r));
      armed = { reached, released };
      return { reached: reachedP, release };
    },
    /** Passes at once unless armed; then stops once (disarming) until released. */
    async point() {
      const a = armed;
      if (!a) return;
      armed = null;
      a.reached();
      await a.released;
    },
  };
}
