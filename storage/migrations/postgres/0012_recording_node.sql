-- A recording survives its node (docs/hls.md "Recordings across a node
-- loss"): node is the node writing the recording now ('' without a
-- cluster), part how many times another node took it over (the files of
-- part N > 0 are named pN-...). A surviving node takes over a recording
-- whose node is dead by compare-and-set on (node, part).
ALTER TABLE recordings ADD COLUMN node TEXT NOT NULL DEFAULT '';
ALTER TABLE recordings ADD COLUMN part INTEGER NOT NULL DEFAULT 0;
CREATE INDEX recordings_status ON recordings (status);
