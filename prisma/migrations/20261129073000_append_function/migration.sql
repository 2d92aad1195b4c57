-- The write path in one call, so an append costs one round trip instead of a transaction of six
-- statements (src/infra/prisma-event-store.ts, append). In the call's own transaction:
--   1. lock the product's snapshot row, and refuse (FALSE) unless it holds the version the command
--      was decided on (p_expected; 0: no row, a create);
--   2. update the snapshot to the state after the events (or insert it, for a new product: a
--      concurrent create of the same id makes the insert do nothing, which refuses too);
--   3. insert the events, then one outbox row per event (their envelopes), in event order.
-- The unique (product_id, version) index stays the last word: a taken version that the snapshot
-- row did not show (a snapshot behind its events) fails with unique_violation, which the caller
-- reads as a refusal as well. The NOTIFY that wakes the relay is sent after the commit, by the
-- caller, coalesced across writes.
CREATE FUNCTION catalog_append(
    p_events      JSONB,        -- [{eventId, productId, version, type, schemaVersion, data, occurredAt}]
    p_envelopes   JSONB,        -- the outbox payloads, one per event, in event order
    p_expected    INTEGER,
    p_id          VARCHAR(64),
    p_version     INTEGER,
    p_deleted     BOOLEAN,
    p_name        VARCHAR(200),
    p_description TEXT,
    p_price_cents BIGINT,
    p_currency    CHAR(3),
    p_category    VARCHAR(100),
    p_created_at  TIMESTAMPTZ(3),
    p_updated_at  TIMESTAMPTZ(3)
) RETURNS BOOLEAN
LANGUAGE plpgsql AS $$
DECLARE
    current_version INTEGER;
BEGIN
    SELECT version INTO current_version FROM product_snapshots WHERE id = p_id FOR UPDATE;
    IF FOUND THEN
        IF current_version <> p_expected THEN
            RETURN FALSE;
        END IF;
        UPDATE product_snapshots
           SET version = p_version, deleted = p_deleted, name = p_name, description = p_description,
               price_cents = p_price_cents, currency = p_currency, category = p_category,
               created_at = p_created_at, updated_at = p_updated_at
         WHERE id = p_id;
    ELSE
        IF p_expected <> 0 THEN
            RETURN FALSE;
        END IF;
        INSERT INTO product_snapshots (id, version, deleted, name, description, price_cents, currency, category, created_at, updated_at)
        VALUES (p_id, p_version, p_deleted, p_name, p_description, p_price_cents, p_currency, p_category, p_created_at, p_updated_at)
        ON CONFLICT (id) DO NOTHING;
        IF NOT FOUND THEN
            RETURN FALSE;
        END IF;
    END IF;

    INSERT INTO events (event_id, product_id, version, type, schema_version, data, occurred_at)
    SELECT (e.event->>'eventId')::UUID, e.event->>'productId', (e.event->>'version')::INTEGER, e.event->>'type',
           (e.event->>'schemaVersion')::INTEGER, e.event->'data', (e.event->>'occurredAt')::TIMESTAMPTZ
      FROM jsonb_array_elements(p_events) WITH ORDINALITY AS e(event, n)
     ORDER BY e.n;

    INSERT INTO outbox (event_id, product_id, version, payload)
    SELECT (o.payload->>'eventId')::UUID, o.payload->>'productId', (o.payload->>'version')::INTEGER, o.payload
      FROM jsonb_array_elements(p_envelopes) WITH ORDINALITY AS o(payload, n)
     ORDER BY o.n;

    RETURN TRUE;
END
$$;
