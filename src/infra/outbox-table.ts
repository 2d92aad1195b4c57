// The outbox as both of its PostgreSQL users see it: the event store writes rows in the write's
// transaction and notifies this channel on commit; the relay listens on it and sends the rows.
export const OUTBOX_CHANNEL = "catalog_outbox";
