// Replay jobs: started by the admin endpoint or the CLI, run in the background, their progress
// saved after every page so any api instance can report it.
import type { Logger } from "pino";
import { CatalogError } from "../catalog/errors.ts";
import type { JobStore, ProductCache, ReplayJob, ReplaySource } from "./ports.ts";
import { emptyCounts, replay } from "./replay.ts";

export type { JobStore, ReplayJob };

export type ReplayRunnerDeps = {
  source: ReplaySource;
  cacheFor: (namespace: string) => ProductCache;
  jobs: JobStore;
  logger: Logger;
  defaultNamespace: string;
  newId?: () => string;
  pageSize?: number;
  /** A running job not updated for this long is reported as abandoned (its process died). */
  staleAfterMs?: number;
  /** Lifetime of a full replay's lock; renewed every third of it while the job runs. */
  lockTtlMs?: number;
};

export function createReplayRunner(deps: ReplayRunnerDeps) {
  const newId = deps.newId ?? (() => crypto.randomUUID());
  const staleAfterMs = deps.staleAfterMs ?? 60_000;
  const lockTtlMs = deps.lockTtlMs ?? 30_000;

  /**
   * Runs a job to its end; `onProgress` sees every saved state. A timer, not the pages, renews a
   * full replay's lock and marks the job alive, so a slow page neither lets a second full replay
   * in nor makes this one look abandoned; a lock found lost (renew refused) stops the job at the
   * next page, as failed.
   */
  async function run(job: ReplayJob, ids: readonly string[] | undefined, onProgress?: (job: ReplayJob) => void): Promise<ReplayJob> {
    const started = performance.now();
    const log = deps.logger.child({ jobId: job.jobId, namespace: job.namespace, scope: job.scope });
    let lostLock: string | null = null;
    // Saves run one after another, each writing the job as it is then, so none overwrites a newer state.
    let saving: Promise<void> = Promise.resolve();
    const persist = () => (saving = saving.then(() => deps.jobs.save(job)));
    const save = async (patch: Partial<ReplayJob>) => {
      Object.assign(job, patch, { updatedAt: new Date().toISOString() });
      const seconds = (performance.now() - started) / 1000;
      job.ratePerSecond = seconds > 0 ? Math.round(job.processed / seconds) : 0;
      await persist();
      onProgress?.(job);
    };
    const heartbeat = setInterval(() => {
      void (async () => {
        if (job.scope === "all" && lostLock === null && !(await deps.jobs.renew(job.namespace, job.jobId, lockTtlMs))) {
          lostLock = `the replay lock of ${job.namespace} was lost (it expired or was taken); stopped`;
          log.error("replay lock lost; stopping at the next page");
        }
        job.updatedAt = new Date().toISOString();
        await persist();
      })().catch((err) => log.warn({ err: (err as Error).message }, "replay heartbeat failed"));
    }, Math.max(10, Math.floor(lockTtlMs / 3)));
    log.info("replay started");
    try {
      const result = await replay(
        { source: deps.source, cache: deps.cacheFor(job.namespace), logger: log },
        { ids, pageSize: deps.pageSize },
        (counts, errors, total) => save({ ...counts, total, errorSamples: errors.slice(0, 20) }),
        () => lostLock !== null,
      );
      if (lostLock !== null) throw new Error(lostLock);
      await save({ ...result.counts, total: result.total, missing: result.missing, missingIds: result.missingIds, status: "completed", finishedAt: new Date().toISOString() });
      log.info({ ...result.counts, missing: result.missing, missingIds: result.missingIds, ratePerSecond: job.ratePerSecond }, "replay completed");
    } catch (err) {
      await save({ status: "failed", failure: (err as Error).message, finishedAt: new Date().toISOString() }).catch(() => {});
      log.error({ err: (err as Error).message }, "replay failed");
    } finally {
      clearInterval(heartbeat);
      if (job.scope === "all" && lostLock === null) await deps.jobs.release(job.namespace, job.jobId).catch(() => {});
    }
    return job;
  }

  /** A running job whose instance stopped saving it is reported as abandoned. */
  const reported = (job: ReplayJob): ReplayJob =>
    job.status === "running" && Date.now() - Date.parse(job.updatedAt) > staleAfterMs ? { ...job, status: "abandoned" } : job;

  return {
    /**
     * Creates a job (refusing a second full replay of a namespace with 409 REPLAY_RUNNING) and
     * returns it with a promise of its end; the caller decides whether to wait.
     */
    async start(request: { productIds?: string[]; namespace?: string }, onProgress?: (job: ReplayJob) => void) {
      const namespace = request.namespace ?? deps.defaultNamespace;
      const now = new Date().toISOString();
      const job: ReplayJob = {
        jobId: newId(),
        status: "running",
        scope: request.productIds ? "ids" : "all",
        namespace,
        ...emptyCounts(),
        total: 0,
        missing: 0,
        missingIds: [],
        ratePerSecond: 0,
        errorSamples: [],
        startedAt: now,
        updatedAt: now,
        finishedAt: null,
        failure: null,
      };
      if (job.scope === "all") {
        const holder = await deps.jobs.tryLock(namespace, job.jobId, lockTtlMs);
        if (holder) {
          throw new CatalogError("REPLAY_RUNNING", 409, `a full replay of ${namespace} is already running`, { jobId: holder });
        }
      }
      await deps.jobs.save(job);
      const done = run(job, request.productIds, onProgress);
      return { job: { ...job }, done };
    },

    async get(jobId: string): Promise<ReplayJob | null> {
      const job = await deps.jobs.load(jobId);
      return job && reported(job);
    },

    /** The most recent jobs of every namespace, newest first. */
    async recent(limit = 20): Promise<ReplayJob[]> {
      return (await deps.jobs.recent(limit)).map(reported);
    },
  };
}

export type ReplayRunner = ReturnType<typeof createReplayRunner>;
