-- Applying an order revision reads the returns already booked for each of its lines
-- (`stock_movement` rows with kind 'return' and the line key as reference). Without an index
-- that read scanned the whole movement table once per line of every order taking the general
-- path: a cost that grows with every receipt, shipment and return the ledger has ever booked.
CREATE INDEX "stock_movement_reference_idx" ON "stock_movement"("reference");
