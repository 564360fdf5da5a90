-- Many order lines reserved in one statement: `stock_reserve_line` for each, inside the caller's
-- transaction, in (sku, input position) order. The order intake applies a claimed batch of new
-- orders in one transaction (src/orders/apply-batch.ts); this function is what keeps that
-- transaction to a handful of round trips however many lines the batch holds.
--
-- Lines are taken in SKU order, as every other writer takes stock rows, so two batches (or a
-- batch and a single order) cannot deadlock on stock_level. Each element answers exactly what
-- `stock_reserve_line` answers for it (result, replayed, fallback for a bundle, or an error
-- that wrote nothing); the caller decides what to do with errors. p_warehouse_ids holds one
-- comma-separated list of warehouse ids per line (arrays of arrays must be rectangular in
-- PostgreSQL, and shops in one batch may use different warehouses). Mode is `partial`: orders
-- that arrive have already sold.
CREATE FUNCTION "stock_reserve_lines"(
  p_keys TEXT[],
  p_request_hashes TEXT[],
  p_line_keys TEXT[],
  p_sku_ids INTEGER[],
  p_quantities INTEGER[],
  p_warehouse_ids TEXT[]
) RETURNS TABLE ("n" INTEGER, "r" JSONB) LANGUAGE plpgsql AS $$
DECLARE
  v_line RECORD;
BEGIN
  FOR v_line IN
    SELECT t.k, t.h, t.lk, t.s, t.q, t.w, t.i::INTEGER AS i
    FROM unnest(p_keys, p_request_hashes, p_line_keys, p_sku_ids, p_quantities, p_warehouse_ids)
      WITH ORDINALITY AS t(k, h, lk, s, q, w, i)
    ORDER BY t.s, t.i
  LOOP
    "n" := v_line.i;
    "r" := "stock_reserve_line"(v_line.k, v_line.h, v_line.lk, v_line.s, v_line.q,
                                string_to_array(v_line.w, ',')::INTEGER[], true, NULL);
    RETURN NEXT;
  END LOOP;
END;
$$;
