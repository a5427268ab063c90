import { createHash } from "node:crypto";
import type { GitOid } from "../../remotes/git/objects.js";
import { RemoteState } from "../../state/index.js";
import type { RunSums } from "../in-sync.js";

/**
 * The runs a push last found holding on the branch exactly what this side holds, with their
 * folders' sums then (src/sync/in-sync.ts sums them, in C). Rows hold for one tip of the branch:
 * a no-change push reads the tip (one ref), sums the runs, finds every row matching and stops,
 * with no fetch, tree or stat cache read. Kept as the store keeps its rows (`RemoteState`), under
 * a key of their own.
 */
export class GitInSync {
  readonly #state: RemoteState;
  readonly #largeAt: number | undefined;
  /** The tip the rows hold for (undefined: none do). */
  #tip: GitOid | undefined;
  rows = new Map<string, string>();
  #changed = false;

  constructor(runsDir: string, url: string, largeAt: number | undefined) {
    this.#state = new RemoteState(runsDir, `git:${url}`);
    this.#largeAt = largeAt;
  }

  #stamp(tip: GitOid): string {
    return createHash("sha256").update(`${tip}\n${this.#largeAt ?? ""}`).digest("hex");
  }

  /** The rows saved for this tip (empty for another tip). */
  load(tip: GitOid | undefined): void {
    this.#tip = tip;
    this.rows = new Map(tip === undefined ? [] : (this.#state.inSyncRows(this.#stamp(tip)) ?? []));
  }

  /** Runs whose sums match their rows. */
  matching(runIds: readonly string[], sums: ReadonlyMap<string, RunSums>): Set<string> {
    return new Set(runIds.filter((id) => sums.get(id)?.key !== undefined && this.rows.get(id) === sums.get(id)!.key));
  }

  /** Keeps only these runs' rows (the others were not found in sync this time). */
  keepOnly(runIds: Iterable<string>): void {
    const keep = new Map<string, string>();
    for (const id of runIds) if (this.rows.has(id)) keep.set(id, this.rows.get(id)!);
    this.#changed ||= keep.size !== this.rows.size;
    this.rows = keep;
  }

  note(runId: string, sums: RunSums | undefined): void {
    if (sums?.key === undefined || !sums.settled) return this.drop(runId);
    if (this.rows.get(runId) === sums.key) return;
    this.rows.set(runId, sums.key);
    this.#changed = true;
  }

  drop(runId: string): void {
    if (this.rows.delete(runId)) this.#changed = true;
  }

  /** The branch moved from `from` to `to`: rows hold on when this side moved it from their tip. */
  moved(from: GitOid | undefined, to: GitOid): void {
    if (from !== this.#tip) this.rows.clear();
    this.#tip = to;
    this.#changed = true;
  }

  /** The branch is at `tip` now (fetched): rows made for another tip are dropped. */
  at(tip: GitOid | undefined): void {
    if (tip === this.#tip) return;
    this.rows.clear();
    this.#tip = tip;
    this.#changed = true;
  }

  save(): void {
    if (!this.#changed || this.#tip === undefined) return;
    this.#state.setInSyncRows(this.#stamp(this.#tip), this.rows);
    this.#state.commit();
    this.#changed = false;
  }
}
