-- A dataset's rows in import order, a page at a time (list_data_rows).
create index global_keys_dataset_order on ingest.global_keys (dataset_id, created_at, line, data_row_id);
drop index ingest.global_keys_dataset;
