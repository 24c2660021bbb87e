-- Where a partner answers for its own processing: the https:// URL of its Logboek
-- Dataverwerkingen read API, when the registry knows it (NULL otherwise). The gateway's read
-- API links every delivery to the receiving partner's. Checked by the gateway before it is
-- stored: https only, no user name, password, query or fragment.
ALTER TABLE partners ADD COLUMN logboek_url TEXT;
