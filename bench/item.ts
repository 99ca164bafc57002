// What a benchmark item is: everything the runner, the report and the docs need to know about it,
// in one module per item (bench/items/). Adding an item = a module implementing BenchItem and one
// line in bench/items/index.ts; nothing else names it.
import type { Table } from './table.ts';

/** What the command line sets for every item; each item derives its own plan from it. */
export interface PlanOptions {
  /** Tiny sizes (CI): checks that the item runs, its numbers mean nothing. */
  smoke: boolean;
  /** `--streams`: the N points of the items that have them (capacity, burst). */
  streams: number[] | null;
  /** `--repeat`: runs per N point. */
  repeat: number | null;
}

/** A target line: reported, never asserted. `met` null: not measurable in this run (skipped, smoke sizes). */
export interface Target {
  item: string;
  target: string;
  measured: string;
  met: boolean | null;
}

/** The results of the items that ran before this one (or all of them, when rendering), by item id. */
export type Results = Readonly<Record<string, unknown>>;

export interface RunContext {
  /** A new step of the progress bar (as many as `steps` said). */
  step(label: string): void;
  /** Live detail within a step (terminal only). */
  tick(label: string): void;
  /** Whether an item runs in this benchmark (an item may collect data for another one). */
  selected(id: string): boolean;
  /** The results of the items that already ran. */
  earlier: Results;
  /** Records a crash (exit status 1) of part of the item while it still returns what it measured. */
  fail(message: string): void;
}

/**
 * One benchmark item. `Plan` and `Result` must be plain JSON (the result is stored under `id` in
 * the results file, and the report and the docs are rendered from that file alone). Methods, not
 * function properties, so that every item fits in the registry's `BenchItem[]`.
 */
export interface BenchItem<Plan = unknown, Result = unknown> {
  /** `--only` name and key of its result in the JSON. */
  readonly id: string;
  /** One line: what it measures (`--help`). */
  readonly title: string;
  plan(options: PlanOptions): Plan;
  /** How many progress steps `run` takes with this plan (async: an item may look for its inputs first). */
  steps(plan: Plan): number | Promise<number>;
  /** Measures. A throw is the item's crash (exit status 1); a missing tool is a result that says skipped. */
  run(plan: Plan, ctx: RunContext): Promise<Result>;
  /** Its tables; `all` holds every item's results of the same run (baselines taken from another item). */
  render(result: Result, all: Results): Table[];
  targets(result: Result, all: Results): Target[];
}

/** The result of `item` among `results`, typed (undefined when it did not run). */
export function resultOf<R>(item: Pick<BenchItem<never, R>, 'id' | 'render'>, results: Results): R | undefined {
  return results[item.id] as R | undefined;
}
