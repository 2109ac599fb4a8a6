-- Every commit updates its account's row (rev, head, data): pages filled to the brim leave an update no room beside
-- the old row, so each one writes a new row elsewhere and an entry into every index of the table. Pages filled to
-- 80 % let most updates stay on the page (HOT, no index writes): 300-account upserts of a 20,000-row copy took 19.5
-- against 25 us a row, 28-33 against 32-40 after fifteen updates a row (docs/perf-journal.md, session 23). Pages
-- written from now on are filled so; the rows there are now keep their pages until the table is rewritten
-- (VACUUM FULL, in a quiet hour, if wanted).
ALTER TABLE "accounts" SET (fillfactor = 80);
