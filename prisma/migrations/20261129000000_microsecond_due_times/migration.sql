-- The times the queues compare with now() are kept to the microsecond, as now() gives them.
-- Kept to the millisecond they were rounded: a due time set to now() (an inbox event just
-- stored, a push just planned) could read up to half a millisecond in the future, and every
-- claim compared with `now() + interval '1 millisecond'` to make up for it (four places). With
-- the precision of now() itself, `<= now()` means what it says.
--
-- Raising the precision rewrites no rows: PostgreSQL keeps every timestamp in microseconds
-- whatever precision the column declares.
ALTER TABLE "inbox_event"
  ALTER COLUMN "received_at" SET DATA TYPE TIMESTAMPTZ(6),
  ALTER COLUMN "next_attempt_at" SET DATA TYPE TIMESTAMPTZ(6);

ALTER TABLE "stock_push"
  ALTER COLUMN "next_attempt_at" SET DATA TYPE TIMESTAMPTZ(6);
