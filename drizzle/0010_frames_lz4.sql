-- Frames are compressed with lz4 where the server was built with it (npm run bench storage: a quarter smaller than
-- stored as is, where pglz gives up on most frames and costs twice the CPU). The partitions there are now are set one
-- by one (the setting on the parent does not reach them); those made later inherit it. Rows already written keep
-- their form. The embedded store (PGlite) has pglz only and keeps it.
DO $$
DECLARE
  part regclass;
BEGIN
  IF 'lz4' = ANY (SELECT unnest(enumvals) FROM pg_settings WHERE name = 'default_toast_compression') THEN
    ALTER TABLE "events" ALTER COLUMN "frame" SET COMPRESSION lz4;
    FOR part IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = '"events"'::regclass LOOP
      EXECUTE format('ALTER TABLE %s ALTER COLUMN "frame" SET COMPRESSION lz4', part);
    END LOOP;
  END IF;
END
$$;
