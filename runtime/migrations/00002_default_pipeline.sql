-- A new workspace starts with a sales pipeline, so deals can be tracked
-- before anyone designs a pipeline of their own.

-- +goose Up
WITH p AS (
    INSERT INTO pipelines (name) VALUES ('Sales') ON CONFLICT (name) DO NOTHING RETURNING id
)
INSERT INTO pipeline_stages (pipeline_id, name, position)
SELECT p.id, s.name, s.position
FROM p, (VALUES ('Lead', 1), ('Qualified', 2), ('Proposal', 3), ('Won', 4), ('Lost', 5)) AS s (name, position);

-- +goose Down
-- Deals reference stages without a cascade; a pipeline that holds deals is
-- the workspace's data now and stays.
DELETE FROM pipelines p
WHERE p.name = 'Sales'
  AND NOT EXISTS (SELECT 1 FROM deals d JOIN pipeline_stages s ON s.id = d.stage_id WHERE s.pipeline_id = p.id);
