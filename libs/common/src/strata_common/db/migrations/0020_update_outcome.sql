-- What an update applied through its notification did, kept once the cluster has moved on (the
-- notification's changes are worked out from its revisions; its conflicts and node count from the
-- cluster as it stood, which an apply changes): the generation it made, the nodes it replaced, and
-- each conflict with its resolution.
ALTER TABLE cluster_updates ADD COLUMN outcome jsonb;
