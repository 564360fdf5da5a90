-- Bundle lines in the batch statement. `stock_reserve_lines` (the order intake's batches) left
-- a bundle line to the general path in src/inventory/reservations.ts, so every new order with a
-- bundle line went one by one: about 15 statements in a transaction of its own. At a 双11 peak
-- those few orders took as many statements as all the others together.
--
-- `stock_reserve_bundle_line` reserves one bundle line, mode `partial`, as the general path does:
--   - the recipe: the bundle expanded to physical SKUs through nested bundles (units multiplied,
--     a SKU reached twice counted once with the sum), in depth-first order of component id, the
--     order the general path's recipe has (src/domain/bundles.ts expandToPhysical over the
--     graph loadContext reads, edges by bundle and component id); a bundle with no components
--     is its own physical SKU; nesting deeper than 8 (or a cycle) returns {"fallback": true},
--     having written nothing, and the general path raises its error;
--   - the key taken first (a replay or a conflict answered as `stock_reserve_line` answers),
--     unknown or inactive warehouses refused as there, leaving nothing written;
--   - the balances of the physical SKUs in the candidate warehouses locked in (sku, warehouse)
--     order; units = the most whole bundles every component's free units (on_hand - reserved,
--     floored at 0 per warehouse) cover, at most the quantity asked; each component takes
--     units x its count from the warehouses in the caller's priority order;
--   - one reservation row per component and warehouse used (line_sku_id the bundle,
--     units_per_line the count), the balances raised, and the same JSON result stored under the
--     key: lines, allocations in recipe order, shortfalls per physical SKU in id order.
CREATE FUNCTION "stock_reserve_bundle_line"(
  p_key TEXT,
  p_request_hash TEXT,
  p_line_key TEXT,
  p_sku_id INTEGER,
  p_quantity INTEGER,
  p_warehouse_ids INTEGER[]
) RETURNS JSONB LANGUAGE plpgsql AS $$
DECLARE
  v_kind "SkuKind";
  v_hash TEXT;
  v_stored JSONB;
  v_active_warehouses BIGINT;
  v_error JSONB;
  v_too_deep BOOLEAN;
  v_skus INTEGER[];
  v_pers INTEGER[];
  v_level_sku INTEGER[];
  v_level_wh INTEGER[];
  v_level_free INTEGER[];
  v_units BIGINT;
  v_free BIGINT;
  v_left BIGINT;
  v_take INTEGER;
  v_k INTEGER;
  v_j INTEGER;
  v_wh INTEGER;
  v_res_sku INTEGER[] := '{}';
  v_res_wh INTEGER[] := '{}';
  v_res_per INTEGER[] := '{}';
  v_res_qty INTEGER[] := '{}';
  v_allocations JSONB := '[]';
  v_shortfalls JSONB;
  v_result JSONB;
BEGIN
  SELECT s."kind", o."request_hash", o."result",
         (SELECT count(*) FILTER (WHERE w."active") FROM "warehouse" w WHERE w."id" = ANY(p_warehouse_ids))
  INTO v_kind, v_hash, v_stored, v_active_warehouses
  FROM (SELECT) AS one
  LEFT JOIN "sku" s ON s."id" = p_sku_id
  LEFT JOIN "inventory_operation" o ON o."key" = p_key;
  IF v_kind IS DISTINCT FROM 'bundle' THEN
    RETURN jsonb_build_object('fallback', true);
  END IF;
  IF v_hash IS NOT NULL THEN
    IF v_hash <> p_request_hash THEN
      RETURN jsonb_build_object('error', 'idempotency_conflict');
    END IF;
    RETURN jsonb_build_object('replayed', v_stored);
  END IF;

  -- The recipe, and whether it is too deep for the general path.
  WITH RECURSIVE walk(id, per, path, depth) AS (
    SELECT p_sku_id, 1::BIGINT, '{}'::INTEGER[], 0
    UNION ALL
    SELECT bc."component_id", w.per * bc."quantity", w.path || bc."component_id", w.depth + 1
    FROM walk w JOIN "bundle_component" bc ON bc."bundle_id" = w.id
    WHERE w.depth <= 8
  ), node AS (
    SELECT w.id, w.per, w.path, w.depth,
           EXISTS (SELECT 1 FROM "bundle_component" bc WHERE bc."bundle_id" = w.id) AS composite
    FROM walk w
  ), leaf AS (
    SELECT id, SUM(per) AS per, MIN(path) AS first FROM node WHERE NOT composite GROUP BY id
  )
  SELECT (SELECT bool_or(composite AND depth > 8) FROM node),
         (SELECT array_agg(id ORDER BY first) FROM leaf),
         (SELECT array_agg(per::INTEGER ORDER BY first) FROM leaf)
  INTO v_too_deep, v_skus, v_pers;
  IF v_too_deep OR v_skus IS NULL THEN
    RETURN jsonb_build_object('fallback', true);
  END IF;

  IF v_active_warehouses <> cardinality(p_warehouse_ids) THEN
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

  -- The key first, as the general path takes it: a request in flight with it is waited for.
  INSERT INTO "inventory_operation" ("key", "kind", "request_hash", "result")
  VALUES (p_key, 'reserve', p_request_hash, 'null'::jsonb)
  ON CONFLICT ("key") DO NOTHING;
  IF NOT FOUND THEN
    SELECT o."request_hash", o."result" INTO v_hash, v_stored
    FROM "inventory_operation" o WHERE o."key" = p_key;
    IF v_hash IS DISTINCT FROM p_request_hash THEN
      RETURN jsonb_build_object('error', 'idempotency_conflict');
    END IF;
    RETURN jsonb_build_object('replayed', v_stored);
  END IF;
  IF v_error IS NOT NULL THEN
    DELETE FROM "inventory_operation" WHERE "key" = p_key;
    RETURN v_error;
  END IF;

  -- The physical SKUs' balances in the candidate warehouses, locked in key order.
  SELECT COALESCE(array_agg(l."sku_id" ORDER BY l."sku_id", l."warehouse_id"), '{}'),
         COALESCE(array_agg(l."warehouse_id" ORDER BY l."sku_id", l."warehouse_id"), '{}'),
         COALESCE(array_agg(GREATEST(0, l."on_hand" - l."reserved") ORDER BY l."sku_id", l."warehouse_id"), '{}')
  INTO v_level_sku, v_level_wh, v_level_free
  FROM (
    SELECT "sku_id", "warehouse_id", "on_hand", "reserved" FROM "stock_level"
    WHERE "sku_id" = ANY(v_skus) AND "warehouse_id" = ANY(p_warehouse_ids)
    ORDER BY "sku_id", "warehouse_id"
    FOR UPDATE
  ) l;

  -- Shortfalls per physical SKU (id order), and the whole bundles every component covers.
  SELECT COALESCE(jsonb_agg(jsonb_build_object('skuId', d.sku, 'skuCode', s."code",
                                               'requested', d.requested, 'available', d.available)
                            ORDER BY d.sku) FILTER (WHERE d.requested > d.available), '[]'::jsonb),
         LEAST(p_quantity::BIGINT, MIN(d.available / d.per))
  INTO v_shortfalls, v_units
  FROM (
    SELECT r.sku, r.per, r.per::BIGINT * p_quantity AS requested,
           COALESCE((SELECT SUM(f.free) FROM unnest(v_level_sku, v_level_wh, v_level_free) AS f(sku, wh, free)
                     WHERE f.sku = r.sku AND f.wh = ANY(p_warehouse_ids)), 0)::BIGINT AS available
    FROM unnest(v_skus, v_pers) AS r(sku, per)
  ) d
  JOIN "sku" s ON s."id" = d.sku;

  -- Each component takes its units from the warehouses in the caller's priority order.
  FOR v_k IN 1 .. cardinality(v_skus) LOOP
    v_left := v_units * v_pers[v_k];
    FOREACH v_wh IN ARRAY p_warehouse_ids LOOP
      EXIT WHEN v_left = 0;
      v_free := 0;
      FOR v_j IN 1 .. cardinality(v_level_sku) LOOP
        IF v_level_sku[v_j] = v_skus[v_k] AND v_level_wh[v_j] = v_wh THEN
          v_free := v_level_free[v_j];
          v_level_free[v_j] := v_level_free[v_j] - LEAST(v_free, v_left)::INTEGER;
        END IF;
      END LOOP;
      v_take := LEAST(v_free, v_left)::INTEGER;
      CONTINUE WHEN v_take <= 0;
      v_left := v_left - v_take;
      v_res_sku := v_res_sku || v_skus[v_k];
      v_res_wh := v_res_wh || v_wh;
      v_res_per := v_res_per || v_pers[v_k];
      v_res_qty := v_res_qty || v_take;
      v_allocations := v_allocations || jsonb_build_array(jsonb_build_object(
        'lineKey', p_line_key, 'skuId', v_skus[v_k], 'warehouseId', v_wh, 'quantity', v_take));
    END LOOP;
  END LOOP;

  IF cardinality(v_res_sku) > 0 THEN
    UPDATE "stock_level" l SET "reserved" = l."reserved" + d.qty, "updated_at" = now()
    FROM (SELECT sku, wh, SUM(qty)::INTEGER AS qty FROM unnest(v_res_sku, v_res_wh, v_res_qty) AS t(sku, wh, qty)
          GROUP BY sku, wh) d
    WHERE l."sku_id" = d.sku AND l."warehouse_id" = d.wh;
    INSERT INTO "reservation" ("line_key", "line_sku_id", "sku_id", "warehouse_id", "units_per_line", "quantity")
    SELECT p_line_key, p_sku_id, d.sku, d.wh, d.per, d.qty
    FROM unnest(v_res_sku, v_res_wh, v_res_per, v_res_qty) WITH ORDINALITY AS d(sku, wh, per, qty, n)
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
END;
$$;

-- `stock_reserve_lines` takes bundle lines too (above). A bundle line locks its components'
-- balances, whose ids need not follow the lines' SKU order, so when the lines hold a bundle,
-- every balance any line will touch (simple SKUs and components, in the lines' warehouses) is
-- locked first, in (sku, warehouse) order, as every other writer takes them: no deadlock with
-- another batch or a single order. The lines are then taken in input order (the order intake
-- passes them in the order their orders arrived): a bundle and a simple line share units, and
-- the earlier order gets them, as one by one. Without bundles nothing changes (SKU order, where
-- lines of different SKUs share nothing).
CREATE OR REPLACE FUNCTION "stock_reserve_lines"(
  p_keys TEXT[],
  p_request_hashes TEXT[],
  p_line_keys TEXT[],
  p_sku_ids INTEGER[],
  p_quantities INTEGER[],
  p_warehouse_ids TEXT[]
) RETURNS TABLE ("n" INTEGER, "r" JSONB) LANGUAGE plpgsql AS $$
DECLARE
  v_line RECORD;
  v_bundles BOOLEAN;
BEGIN
  v_bundles := EXISTS (SELECT 1 FROM "sku" s WHERE s."id" = ANY(p_sku_ids) AND s."kind" = 'bundle');
  IF v_bundles THEN
    PERFORM 1 FROM "stock_level" l
    JOIN (
      WITH RECURSIVE walk(id, line, depth) AS (
        SELECT t.s, t.i::INTEGER, 0 FROM unnest(p_sku_ids) WITH ORDINALITY AS t(s, i)
        UNION
        SELECT bc."component_id", w.line, w.depth + 1
        FROM walk w JOIN "bundle_component" bc ON bc."bundle_id" = w.id
        WHERE w.depth <= 8
      )
      SELECT DISTINCT w.id AS sku_id, unnest(string_to_array(p_warehouse_ids[w.line], ',')::INTEGER[]) AS warehouse_id
      FROM walk w
    ) k ON k.sku_id = l."sku_id" AND k.warehouse_id = l."warehouse_id"
    ORDER BY l."sku_id", l."warehouse_id"
    FOR UPDATE OF l;
  END IF;
  FOR v_line IN
    SELECT t.k, t.h, t.lk, t.s, t.q, t.w, t.i::INTEGER AS i
    FROM unnest(p_keys, p_request_hashes, p_line_keys, p_sku_ids, p_quantities, p_warehouse_ids)
      WITH ORDINALITY AS t(k, h, lk, s, q, w, i)
    ORDER BY CASE WHEN v_bundles THEN 0 ELSE t.s END, t.i
  LOOP
    "n" := v_line.i;
    "r" := "stock_reserve_line"(v_line.k, v_line.h, v_line.lk, v_line.s, v_line.q,
                                string_to_array(v_line.w, ',')::INTEGER[], true, NULL);
    IF "r" ? 'fallback' THEN
      "r" := "stock_reserve_bundle_line"(v_line.k, v_line.h, v_line.lk, v_line.s, v_line.q,
                                         string_to_array(v_line.w, ',')::INTEGER[]);
    END IF;
    RETURN NEXT;
  END LOOP;
END;
$$;
