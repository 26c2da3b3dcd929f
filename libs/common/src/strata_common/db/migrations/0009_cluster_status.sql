-- What a cluster's steps learn that later steps and the API need (network and subnet ids, security
-- groups, the API load balancer and endpoint, the image id): its observed status, one JSON object.
ALTER TABLE clusters ADD COLUMN status jsonb NOT NULL DEFAULT '{}';
