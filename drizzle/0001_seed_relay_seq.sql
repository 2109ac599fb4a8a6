-- The single sequence row; the first event gets seq 1.
INSERT INTO "relay_seq" ("id", "seq") VALUES (1, 0) ON CONFLICT DO NOTHING;
