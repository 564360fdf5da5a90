-- The batch's common lines reserved together. `stock_reserve_lines` called `stock_reserve_line`
-- once per line: at a 双11 peak that was the database's largest cost (about a third of its
-- statement time), one function call and five statements per line. Most lines of a batch are
-- the same case: a simple SKU, one warehouse, a key not used before, enough free units. Those
-- are now taken in a fixed number of statements for the whole batch; every other line goes
-- through `stock_reserve_line` (or `stock_reserve_bundle_line`) as before. The results and rows
-- are what the lines one by one give (test/integration/inventory/reserve-lines.test.ts compares
-- random batches with the general path):
--   1. Every balance any line touches (with bundles, their components too) is locked first, in
--      (sku, warehouse) order, as every other writer locks them: no deadlock with another batch
--      or a single order. The locked rows give the free units (on_hand - reserved, floored at 0).
--   2. A SKU's lines are taken together when every line of that SKU in the batch names one
--      warehouse and a positive quantity, the SKU is simple and no bundle line of the batch
--      reaches it, and (batch-wide) no key appears twice. Of those lines, the ones whose key is
--      not stored and whose warehouse is active are taken when the free units of their (sku,
--      warehouse) cover all of them together: one by one, each would then find enough, and get
--      the same result. A SKU short of that, a replayed key, an inactive warehouse: one by one.
--   3. Their keys are inserted in key order with the result success gives (a key a concurrent
--      request stored meanwhile is left to the line-by-line call, which replays it), the
--      balances raised once per (sku, warehouse), one reservation row per line.
-- Lines of a SKU taken together share no units with lines taken one by one (those are other
-- SKUs), so taking them first changes no outcome.
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
  v_reached INTEGER[] := '{}';
  v_n INTEGER[] := '{}';
  v_k TEXT[];
  v_h TEXT[];
  v_lk TEXT[];
  v_s INTEGER[];
  v_q INTEGER[];
  v_wh INTEGER[];
  v_r JSONB[];
  v_keyed TEXT[];
BEGIN
  v_bundles := EXISTS (SELECT 1 FROM "sku" s WHERE s."id" = ANY(p_sku_ids) AND s."kind" = 'bundle');
  IF v_bundles THEN
    -- The SKUs the batch's bundle lines reach (the bundles and their components, nested).
    WITH RECURSIVE walk(id, depth) AS (
      SELECT s."id", 0 FROM "sku" s WHERE s."id" = ANY(p_sku_ids) AND s."kind" = 'bundle'
      UNION
      SELECT bc."component_id", w.depth + 1
      FROM walk w JOIN "bundle_component" bc ON bc."bundle_id" = w.id
      WHERE w.depth <= 8
    )
    SELECT COALESCE(array_agg(DISTINCT id), '{}') INTO v_reached FROM walk;
  END IF;

  -- 1. Every balance the lines touch, locked in (sku, warehouse) order.
  PERFORM 1 FROM "stock_level" l
  JOIN (
    WITH RECURSIVE walk(id, line, depth) AS (
      SELECT t.s, t.i::INTEGER, 0 FROM unnest(p_sku_ids) WITH ORDINALITY AS t(s, i)
      UNION
      SELECT bc."component_id", w.line, w.depth + 1
      FROM walk w JOIN "bundle_component" bc ON bc."bundle_id" = w.id
      WHERE v_bundles AND w.depth <= 8
    )
    SELECT DISTINCT w.id AS sku_id, unnest(string_to_array(p_warehouse_ids[w.line], ',')::INTEGER[]) AS warehouse_id
    FROM walk w
  ) k ON k.sku_id = l."sku_id" AND k.warehouse_id = l."warehouse_id"
  ORDER BY l."sku_id", l."warehouse_id"
  FOR UPDATE OF l;

  -- 2. The lines taken together (arrays, in input order), with the result success gives.
  IF (SELECT count(DISTINCT k) FROM unnest(p_keys) AS k) = cardinality(p_keys) THEN
    SELECT COALESCE(array_agg(c.i ORDER BY c.i), '{}'), array_agg(c.k ORDER BY c.i),
           array_agg(c.h ORDER BY c.i), array_agg(c.lk ORDER BY c.i), array_agg(c.s ORDER BY c.i),
           array_agg(c.q ORDER BY c.i), array_agg(c.wh ORDER BY c.i)
    INTO v_n, v_k, v_h, v_lk, v_s, v_q, v_wh
    FROM (
      SELECT c.*, SUM(c.q) OVER (PARTITION BY c.s, c.wh) AS group_q
      FROM (
        SELECT t.k, t.h, t.lk, t.s, t.q, t.i::INTEGER AS i,
               CASE WHEN t.w ~ '^[0-9]+$' THEN t.w::INTEGER END AS wh,
               bool_and(t.w ~ '^[0-9]+$' AND t.q > 0) OVER (PARTITION BY t.s) AS together
        FROM unnest(p_keys, p_request_hashes, p_line_keys, p_sku_ids, p_quantities, p_warehouse_ids)
          WITH ORDINALITY AS t(k, h, lk, s, q, w, i)
        WHERE NOT (t.s = ANY(v_reached))
      ) c
      JOIN "sku" s ON s."id" = c.s AND s."kind" = 'simple'
      JOIN "warehouse" w ON w."id" = c.wh AND w."active"
      WHERE c.together
        AND NOT EXISTS (SELECT 1 FROM "inventory_operation" o WHERE o."key" = c.k)
    ) c
    JOIN "stock_level" l ON l."sku_id" = c.s AND l."warehouse_id" = c.wh
    WHERE l."on_hand" - l."reserved" >= c.group_q;
  END IF;

  IF cardinality(v_n) > 0 THEN
    -- 3. Their keys, in key order; a key stored meanwhile by a concurrent request is left to the
    -- line-by-line call below (it replays it).
    SELECT array_agg(x.r ORDER BY x.n) INTO v_r
    FROM unnest(v_n, v_k, v_lk, v_s, v_q, v_wh) AS x0(n, k, lk, s, q, wh)
    CROSS JOIN LATERAL (SELECT x0.n, jsonb_build_object(
               'key', x0.k,
               'status', 'reserved',
               'lines', jsonb_build_array(jsonb_build_object(
                 'lineKey', x0.lk, 'skuId', x0.s, 'requested', x0.q, 'reserved', x0.q, 'missing', 0)),
               'allocations', jsonb_build_array(jsonb_build_object(
                 'lineKey', x0.lk, 'skuId', x0.s, 'warehouseId', x0.wh, 'quantity', x0.q)),
               'shortfalls', '[]'::jsonb) AS r) x;
    WITH keyed AS (
      INSERT INTO "inventory_operation" ("key", "kind", "request_hash", "result")
      SELECT x.k, 'reserve', x.h, x.r FROM unnest(v_k, v_h, v_r) AS x(k, h, r)
      ORDER BY x.k
      ON CONFLICT ("key") DO NOTHING
      RETURNING "key"
    )
    SELECT array_agg("key") INTO v_keyed FROM keyed;
    IF COALESCE(cardinality(v_keyed), 0) < cardinality(v_n) THEN
      SELECT COALESCE(array_agg(x.n ORDER BY x.n), '{}'), array_agg(x.k ORDER BY x.n), array_agg(x.lk ORDER BY x.n),
             array_agg(x.s ORDER BY x.n), array_agg(x.q ORDER BY x.n), array_agg(x.wh ORDER BY x.n),
             array_agg(x.r ORDER BY x.n)
      INTO v_n, v_k, v_lk, v_s, v_q, v_wh, v_r
      FROM unnest(v_n, v_k, v_lk, v_s, v_q, v_wh, v_r) AS x(n, k, lk, s, q, wh, r)
      WHERE x.k = ANY(v_keyed);
    END IF;
  END IF;

  IF cardinality(v_n) > 0 THEN
    UPDATE "stock_level" l SET "reserved" = l."reserved" + d.q, "updated_at" = now()
    FROM (SELECT x.s, x.wh, SUM(x.q)::INTEGER AS q FROM unnest(v_s, v_wh, v_q) AS x(s, wh, q) GROUP BY x.s, x.wh) d
    WHERE l."sku_id" = d.s AND l."warehouse_id" = d.wh;
    INSERT INTO "reservation" ("line_key", "line_sku_id", "sku_id", "warehouse_id", "units_per_line", "quantity")
    SELECT x.lk, x.s, x.s, x.wh, 1, x.q FROM unnest(v_lk, v_s, v_wh, v_q, v_n) AS x(lk, s, wh, q, n)
    ORDER BY x.s, x.n;
    RETURN QUERY SELECT x.n, jsonb_build_object('result', x.r) FROM unnest(v_n, v_r) AS x(n, r);
  END IF;

  -- The other lines, one by one: without bundles in SKU order, with them in input order.
  FOR v_line IN
    SELECT t.k, t.h, t.lk, t.s, t.q, t.w, t.i::INTEGER AS i
    FROM unnest(p_keys, p_request_hashes, p_line_keys, p_sku_ids, p_quantities, p_warehouse_ids)
      WITH ORDINALITY AS t(k, h, lk, s, q, w, i)
    WHERE NOT (t.i = ANY(v_n))
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
