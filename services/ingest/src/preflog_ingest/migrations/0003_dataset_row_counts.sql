-- A dataset's row count (Dataset.dataRowCount) kept with the dataset instead of counted on
-- every read: each dataset view, each dataset of a `datasets` page and each page of a
-- dataset's rows counted its global keys, a read proportional to the dataset. A statement
-- trigger on ingest.global_keys adds each statement's inserted rows per dataset (and takes
-- deleted ones away), whatever code writes them. An import's batches update their dataset's
-- row in their own transaction: two imports into one dataset take turns at each batch's
-- commit, which they did for colliding keys already.
alter table ingest.datasets add column data_row_count bigint not null default 0;

-- No key may be added while the counts are taken and the trigger is made.
lock table ingest.global_keys in share row exclusive mode;
update ingest.datasets d
   set data_row_count = (select count(*) from ingest.global_keys g where g.dataset_id = d.dataset_id);

create function ingest.count_inserted_rows() returns trigger language plpgsql as $$
begin
  update ingest.datasets d set data_row_count = d.data_row_count + c.n
    from (select dataset_id, count(*) as n from inserted group by dataset_id) c
   where d.dataset_id = c.dataset_id;
  return null;
end $$;

create function ingest.count_deleted_rows() returns trigger language plpgsql as $$
begin
  update ingest.datasets d set data_row_count = d.data_row_count - c.n
    from (select dataset_id, count(*) as n from deleted group by dataset_id) c
   where d.dataset_id = c.dataset_id;
  return null;
end $$;

create trigger global_keys_counted_on_insert after insert on ingest.global_keys
  referencing new table as inserted for each statement execute function ingest.count_inserted_rows();
create trigger global_keys_counted_on_delete after delete on ingest.global_keys
  referencing old table as deleted for each statement execute function ingest.count_deleted_rows();
