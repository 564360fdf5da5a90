-- The common reservation as one statement: one order line of a simple SKU against the channel's
-- warehouses (one, or a priority list). The general path in src/inventory/reservations.ts costs
-- about seven round trips (BEGIN + lock_timeout, the idempotency key, the SKU and warehouse
-- context, the row locks, the write, the stored result, COMMIT); called on its own this function
-- is a transaction of one round trip. For such a line it gives what the general path gives:
--   - a bundle SKU is not for this function: it returns {"fallback": true} having written and
--     locked nothing, and the caller takes the general path;
--   - a key already applied returns {"replayed": <first result>}, or {"error":
--     "idempotency_conflict"} when it was used for another request (p_request_hash differs);
--   - an unknown SKU, unknown or inactive warehouses, and (mode `all`) insufficient stock return
--     {"error": ...} with what the caller needs for its error, and leave nothing written;
--   - otherwise the free units (on_hand - reserved, floored at 0) are taken in the caller's
--     priority order, split across warehouses when the first is short (mode `partial`: what
--     exists), stock_level.reserved grows (its trigger marks the SKU dirty), one reservation row
--     per warehouse used, and {"result": ...} is returned and stored under the key: the same JSON
--     the general path stores. Safety stock does not limit a reservation (it lowers what is
--     offered for sale, not what a sold order may hold).
--
-- Order of work, as on the general path: the key is taken (inserted) before any balance is
-- locked, so a second request with the same key waits for the first and then replays its
-- result, and balances are locked in (sku, warehouse) order. The key is read first (a replay
-- writes nothing, and is answered before any check the stored result no longer passes). With
-- one warehouse the whole quantity is tried at once: the key is inserted with the result that
-- success gives, and one conditional UPDATE (... WHERE on_hand - reserved >= quantity) checks
-- and takes the units; only when it finds too little does the function lock and read the
-- balances as the general path does (mode `partial`, several warehouses). In mode `all`, when
-- the UPDATE finds too little, the balance is read again without a lock: if it is still short,
-- that is the answer (the row is not held while the refusal commits: at a sell-out most calls
-- are refusals, and the sales still coming must not queue behind them); if units were freed in
-- the meantime, the locking path decides. An error is answered only once the key is this
-- call's: it inserts the key first (waiting, as the general path would, for an in-flight request
-- with the same key, whose result it then replays instead) and deletes it again before
-- answering. That leaves nothing written, as a rollback would, and a caller's transaction that
-- this call joined stays usable. (Raising the error instead would also roll back, but would
-- write every refusal to the server log.)
--
-- p_lock_timeout_ms, when not null, becomes this transaction's lock_timeout (a call on its own
-- has no BEGIN to carry a SET LOCAL); a lock wait past it fails with 55P03, which the caller
-- retries. Other errors (CHECK violations, deadlocks) abort the statement as they would abort
-- the general path's.
CREATE FUNCTION "stock_reserve_line"(
  p_key TEXT,
  p_request_hash TEXT,
  p_line_key TEXT,
  p_sku_id INTEGER,
  p_quantity INTEGER,
  p_warehouse_ids INTEGER[],
  p_partial BOOLEAN,
  p_lock_timeout_ms INTEGER
) RETURNS JSONB LANGUAGE plpgsql AS $$
DECLARE
  v_code TEXT;
  v_kind "SkuKind";
  v_hash TEXT;
  v_stored JSONB;
  v_active_warehouses BIGINT;
  v_error JSONB;
  v_ours BOOLEAN;
  v_level_wh INTEGER[];
  v_level_free INTEGER[];
  v_available BIGINT;
  v_units INTEGER;
  v_left INTEGER;
  v_take INTEGER;
  v_wh INTEGER;
  v_pos INTEGER;
  v_alloc_wh INTEGER[] := '{}';
  v_alloc_qty INTEGER[] := '{}';
  v_allocations JSONB := '[]';
  v_shortfalls JSONB := '[]';
  v_result JSONB;
BEGIN
  SELECT s."code", s."kind", o."request_hash", o."result",
         (SELECT count(*) FILTER (WHERE w."active") FROM "warehouse" w WHERE w."id" = ANY(p_warehouse_ids))
  INTO v_code, v_kind, v_hash, v_stored, v_active_warehouses
  FROM (SELECT) AS one
  LEFT JOIN "sku" s ON s."id" = p_sku_id
  LEFT JOIN "inventory_operation" o ON o."key" = p_key;
  IF v_kind = 'bundle' THEN
    RETURN jsonb_build_object('fallback', true);
  END IF;
  IF v_hash IS NOT NULL THEN
    IF v_hash <> p_request_hash THEN
      RETURN jsonb_build_object('error', 'idempotency_conflict');
    END IF;
    RETURN jsonb_build_object('replayed', v_stored);
  END IF;
  IF p_lock_timeout_ms IS NOT NULL THEN
    PERFORM set_config('lock_timeout', p_lock_timeout_ms || 'ms', true);
  END IF;

  IF v_kind IS NULL THEN
    v_error := jsonb_build_object('error', 'sku_not_found', 'ids', jsonb_build_array(p_sku_id));
  ELSIF v_active_warehouses <> cardinality(p_warehouse_ids) THEN
    SELECT CASE
             WHEN bool_or(w."id" IS NULL) THEN jsonb_build_object('error', 'warehouse_not_found',
               'ids', jsonb_agg(o.id ORDER BY o.n) FILTER (WHERE w."id" IS NULL))
             ELSE jsonb_build_object('error', 'warehouse_inactive',
               'ids', jsonb_agg(o.id ORDER BY o.n) FILTER (WHERE NOT w."active"))
           END
    INTO v_error
    FROM unnest(p_warehouse_ids) WITH ORDINALITY AS o(id, n)
    LEFT JOIN "warehouse" w ON w."id" = o.id;
  END IF;
  IF v_error IS NOT NULL THEN
    INSERT INTO "inventory_operation" ("key", "kind", "request_hash", "result")
    VALUES (p_key, 'reserve', p_request_hash, 'null'::jsonb)
    ON CONFLICT ("key") DO NOTHING;
    IF FOUND THEN
      DELETE FROM "inventory_operation" WHERE "key" = p_key;
      RETURN v_error;
    END IF;
  ELSE
    IF cardinality(p_warehouse_ids) = 1 THEN
      -- The common case: everything from the one warehouse, if it has that much free.
      v_wh := p_warehouse_ids[1];
      v_result := jsonb_build_object(
        'key', p_key,
        'status', 'reserved',
        'lines', jsonb_build_array(jsonb_build_object(
          'lineKey', p_line_key, 'skuId', p_sku_id, 'requested', p_quantity, 'reserved', p_quantity,
          'missing', 0)),
        'allocations', jsonb_build_array(jsonb_build_object(
          'lineKey', p_line_key, 'skuId', p_sku_id, 'warehouseId', v_wh, 'quantity', p_quantity)),
        'shortfalls', '[]'::jsonb);
      INSERT INTO "inventory_operation" ("key", "kind", "request_hash", "result")
      VALUES (p_key, 'reserve', p_request_hash, v_result)
      ON CONFLICT ("key") DO NOTHING;
      v_ours := FOUND;
      IF v_ours THEN
        UPDATE "stock_level" SET "reserved" = "reserved" + p_quantity, "updated_at" = now()
        WHERE "sku_id" = p_sku_id AND "warehouse_id" = v_wh AND "on_hand" - "reserved" >= p_quantity;
        IF FOUND THEN
          INSERT INTO "reservation" ("line_key", "line_sku_id", "sku_id", "warehouse_id", "units_per_line", "quantity")
          VALUES (p_line_key, p_sku_id, p_sku_id, v_wh, 1, p_quantity);
          RETURN jsonb_build_object('result', v_result);
        END IF;
        IF NOT p_partial THEN
          SELECT GREATEST(0, l."on_hand" - l."reserved") INTO v_available
          FROM "stock_level" l WHERE l."sku_id" = p_sku_id AND l."warehouse_id" = v_wh;
          v_available := COALESCE(v_available, 0);
          IF v_available < p_quantity THEN
            DELETE FROM "inventory_operation" WHERE "key" = p_key;
            RETURN jsonb_build_object('error', 'insufficient_stock', 'shortfalls', jsonb_build_array(
              jsonb_build_object('skuId', p_sku_id, 'skuCode', v_code, 'requested', p_quantity,
                                 'available', v_available)));
          END IF;
        END IF;
      END IF;
    ELSE
      INSERT INTO "inventory_operation" ("key", "kind", "request_hash", "result")
      VALUES (p_key, 'reserve', p_request_hash, 'null'::jsonb)
      ON CONFLICT ("key") DO NOTHING;
      v_ours := FOUND;
    END IF;

    IF v_ours THEN
      -- The key is ours. This SKU's balances in the candidate warehouses, locked in key order.
      SELECT COALESCE(array_agg(l."warehouse_id" ORDER BY l."warehouse_id"), '{}'),
             COALESCE(array_agg(GREATEST(0, l."on_hand" - l."reserved") ORDER BY l."warehouse_id"), '{}')
      INTO v_level_wh, v_level_free
      FROM (
        SELECT "warehouse_id", "on_hand", "reserved" FROM "stock_level"
        WHERE "sku_id" = p_sku_id AND "warehouse_id" = ANY(p_warehouse_ids)
        ORDER BY "warehouse_id"
        FOR UPDATE
      ) l;
      SELECT COALESCE(sum(f), 0) INTO v_available FROM unnest(v_level_free) AS f;
      IF p_quantity > v_available THEN
        v_shortfalls := jsonb_build_array(jsonb_build_object(
          'skuId', p_sku_id, 'skuCode', v_code, 'requested', p_quantity, 'available', v_available));
        IF NOT p_partial THEN
          DELETE FROM "inventory_operation" WHERE "key" = p_key;
          RETURN jsonb_build_object('error', 'insufficient_stock', 'shortfalls', v_shortfalls);
        END IF;
      END IF;

      -- Take from the warehouses in the caller's priority order.
      v_units := LEAST(p_quantity::BIGINT, v_available)::INTEGER;
      v_left := v_units;
      FOREACH v_wh IN ARRAY p_warehouse_ids LOOP
        EXIT WHEN v_left = 0;
        v_pos := array_position(v_level_wh, v_wh);
        CONTINUE WHEN v_pos IS NULL;
        v_take := LEAST(v_level_free[v_pos], v_left);
        CONTINUE WHEN v_take <= 0;
        v_left := v_left - v_take;
        v_alloc_wh := v_alloc_wh || v_wh;
        v_alloc_qty := v_alloc_qty || v_take;
        v_allocations := v_allocations || jsonb_build_array(jsonb_build_object(
          'lineKey', p_line_key, 'skuId', p_sku_id, 'warehouseId', v_wh, 'quantity', v_take));
      END LOOP;
      IF cardinality(v_alloc_wh) > 0 THEN
        UPDATE "stock_level" l SET "reserved" = l."reserved" + d.qty, "updated_at" = now()
        FROM unnest(v_alloc_wh, v_alloc_qty) AS d(warehouse_id, qty)
        WHERE l."sku_id" = p_sku_id AND l."warehouse_id" = d.warehouse_id;
        INSERT INTO "reservation" ("line_key", "line_sku_id", "sku_id", "warehouse_id", "units_per_line", "quantity")
        SELECT p_line_key, p_sku_id, p_sku_id, d.warehouse_id, 1, d.qty
        FROM unnest(v_alloc_wh, v_alloc_qty) WITH ORDINALITY AS d(warehouse_id, qty, n)
        ORDER BY d.n;
      END IF;
      v_result := jsonb_build_object(
        'key', p_key,
        'status', CASE WHEN v_units = p_quantity THEN 'reserved' ELSE 'partial' END,
        'lines', jsonb_build_array(jsonb_build_object(
          'lineKey', p_line_key, 'skuId', p_sku_id, 'requested', p_quantity, 'reserved', v_units,
          'missing', p_quantity - v_units)),
        'allocations', v_allocations,
        'shortfalls', v_shortfalls);
      UPDATE "inventory_operation" SET "result" = v_result WHERE "key" = p_key;
      RETURN jsonb_build_object('result', v_result);
    END IF;
  END IF;

  -- Another request took the key after it was read (it waited for that one to commit).
  SELECT o."request_hash", o."result" INTO v_hash, v_stored
  FROM "inventory_operation" o WHERE o."key" = p_key;
  IF v_hash IS DISTINCT FROM p_request_hash THEN
    RETURN jsonb_build_object('error', 'idempotency_conflict');
  END IF;
  RETURN jsonb_build_object('replayed', v_stored);
END;
$$;
