-- Upsert the entity's chart of accounts. Accounts are never deleted by an import: ledger lines
-- and mappings refer to them. A name the source leaves empty keeps the name we had.
INSERT INTO accounts (entity_id, code, name, account_type, category, standard_code, standard_scheme,
                      parent_code, first_seen_run, run_id)
SELECT $entity_id, code, name, account_type, category, standard_code, standard_scheme, parent_code,
       $run_id, $run_id
FROM read_parquet($staged)
ON CONFLICT (entity_id, code) DO UPDATE SET
    name = coalesce(excluded.name, accounts.name),
    account_type = coalesce(excluded.account_type, accounts.account_type),
    category = coalesce(excluded.category, accounts.category),
    standard_code = coalesce(excluded.standard_code, accounts.standard_code),
    standard_scheme = coalesce(excluded.standard_scheme, accounts.standard_scheme),
    parent_code = coalesce(excluded.parent_code, accounts.parent_code),
    run_id = excluded.run_id;
