import type { Db } from '../db/client.js';
import type { SqlQuery } from '../db/sql.js';
import { Availability } from './availability.js';
import { Catalog } from './catalog.js';
import { Ledger } from './ledger.js';
import { Reservations } from './reservations.js';
import { type Tx, TxRunner, type TxRunnerOptions } from './tx.js';
import { type VerifyReport, verifyInventory } from './verify.js';

export type { AtsView } from './availability.js';
export type { SkuView, WarehouseView } from './catalog.js';
export type { MovementResult, StocktakeResult } from './ledger.js';
export type { ReserveResult, SettleResult } from './reservations.js';
export type { VerifyReport, Violation } from './verify.js';

/** The inventory module: the only writer of stock tables. */
export interface Inventory {
  catalog: Catalog;
  ledger: Ledger;
  reservations: Reservations;
  availability: Availability;
  verify(): Promise<VerifyReport>;
  /** Resolves when no stock transaction is queued or running (for graceful shutdown). */
  idle(): Promise<void>;
  /**
   * Runs `fn` in a stock transaction (same queue and retries as the inventory's own), for
   * modules whose writes must commit together with stock effects (the order intake). Pass
   * the `tx` to inventory methods as their `within` argument.
   */
  transaction<T>(fn: (tx: Tx) => Promise<T>, options?: { priority?: number }): Promise<T>;
  /** Runs one statement as a transaction of its own: one round trip, same queue and retries. */
  statement<T>(q: SqlQuery, options?: { priority?: number }): Promise<T[]>;
  /**
   * `statement` as a query port: for code written against a `Tx` (`Pick<Tx, 'query'>`) that can
   * also run outside one, each of its queries then a transaction of its own.
   */
  readonly autocommit: Pick<Tx, 'query'>;
}

export interface InventoryOptions extends TxRunnerOptions {
  /**
   * Reserve a single line with one statement (`stock_reserve_line`) instead of the general
   * path's transaction of several. Default true; false sends every reservation through the
   * general path (tests compare the two).
   */
  lineStatement?: boolean;
}

export function createInventory(db: Db, options: InventoryOptions = {}): Inventory {
  const tx = new TxRunner(db, options);
  return {
    catalog: new Catalog(tx),
    ledger: new Ledger(tx),
    reservations: new Reservations(tx, { lineStatement: options.lineStatement ?? true }),
    availability: new Availability(tx),
    verify: () => verifyInventory(tx),
    idle: () => tx.onIdle(),
    transaction: (fn, options) => tx.run(fn, options),
    statement: (q, options) => tx.single(q, options),
    autocommit: { query: (q) => tx.single(q) },
  };
}
