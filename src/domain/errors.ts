/**
 * Errors with meaning, shared by every layer. Each carries a stable `code` that the admin
 * API maps to an HTTP status, and details a human can act on.
 */
export abstract class DomainError extends Error {
  abstract readonly code: string;
}

/** The request itself is wrong (negative quantity, missing field...). Nothing was written. */
export class ValidationError extends DomainError {
  override readonly name = 'ValidationError';
  readonly code = 'invalid_input';
  constructor(
    message: string,
    /** Each problem as `path: message`. */
    readonly issues: string[] = [message],
  ) {
    super(message);
  }
}

/** A referenced entity does not exist (unknown SKU code or id, unknown warehouse). */
export class NotFoundError extends DomainError {
  override readonly name = 'NotFoundError';
  readonly code = 'not_found';
  constructor(
    readonly entity: 'sku' | 'warehouse' | 'reservation' | 'shop' | 'order' | 'exception' | 'inbox_event',
    readonly refs: (string | number)[],
  ) {
    super(`unknown ${entity}${refs.length > 1 ? 's' : ''}: ${refs.join(', ')}`);
  }
}

/** The same idempotency key was used before for a different request. */
export class IdempotencyConflictError extends DomainError {
  override readonly name = 'IdempotencyConflictError';
  readonly code = 'idempotency_conflict';
  constructor(readonly key: string) {
    super(`idempotency key "${key}" was already used for a different request`);
  }
}

export interface Shortfall {
  skuId: number;
  skuCode: string;
  requested: number;
  available: number;
}

/** Not enough free stock; lists every short SKU at once (demand summed per SKU). */
export class InsufficientStockError extends DomainError {
  override readonly name = 'InsufficientStockError';
  readonly code = 'insufficient_stock';
  constructor(readonly shortfalls: Shortfall[]) {
    super(
      `insufficient stock: ${shortfalls
        .map((s) => `${s.skuCode} needs ${s.requested}, ${s.available} available`)
        .join('; ')}`,
    );
  }
}

/** A bundle definition would contain itself, directly or through other bundles. */
export class BundleCycleError extends DomainError {
  override readonly name = 'BundleCycleError';
  readonly code = 'bundle_cycle';
  constructor(readonly path: string[]) {
    super(`bundle cycle: ${path.join(' -> ')}`);
  }
}

/** The operation conflicts with the current stock state (e.g. would push on-hand below reserved). */
export class StockConflictError extends DomainError {
  override readonly name = 'StockConflictError';
  readonly code = 'stock_conflict';
}

/**
 * The request conflicts with the current state of what it names, not with stock: e.g. resolving
 * an exception that is already resolved, retrying an inbox event that is not parked. Nothing was
 * written. Answered 409 `conflict`.
 */
export class ConflictError extends DomainError {
  override readonly name = 'ConflictError';
  readonly code = 'conflict';
}

/**
 * The stock rows stayed locked by other writers past every retry (lock timeout, deadlock,
 * serialization conflict). Nothing was written; the same request may be sent again.
 */
export class BusyError extends DomainError {
  override readonly name = 'BusyError';
  readonly code = 'busy';
}
