-- A project's agreement without reading every task's share on each report (ADR 0028): the
-- report fetched and decoded one share per task (0.3-0.5 s for 17k tasks, growing with the
-- project). A trigger on review.tasks notes each change of a task's share (its share before
-- and after) in agreement_deltas, whoever writes it; the service's fold loop adds the changes
-- into agreement_sums; a report adds a project's sums and its changes not folded yet. The sums
-- are numeric, so adding and taking away shares is exact and the sums equal the sum of the
-- shares now held, whatever the history (a rebuilt read model has the same sums as the live
-- one).

-- A share (TaskAgreement as JSON) as rows of (question_id, value, n, total):
--   ('', component)  n = how many pairs have it, total = its sum over them ('pairs': n only);
--   (question, '')   n = units, total = observed disagreement;
--   (question, json) n = how often that comparable value occurs in the units.
-- '' is never a JSON value and a component name never JSON, so no two kinds of row meet, even
-- for a question whose id is ''.
create function review.agreement_rows(share jsonb)
  returns table (question_id text, value text, n bigint, total numeric)
  language sql immutable as $$
  select '', c.name, coalesce((share->'pairs'->>c.counter)::bigint, 0),
         coalesce((share->'pairs'->>c.summed)::numeric, 0)
    from (values ('pairs', 'pairs', null),
                 ('score', 'scored', 'score'),
                 ('crown_agreement', 'crowned', 'crown_agreement'),
                 ('kendall_tau', 'ranked', 'kendall_tau'),
                 ('answer_agreement', 'answered', 'answer_agreement')) c(name, counter, summed)
   where share is not null
  union all
  select q.key, '', (q.value->>'units')::bigint, coalesce((q.value->>'observed')::numeric, 0)
    from jsonb_each(coalesce(share->'questions', '{}')) q
  union all
  select q.key, v.key, (v.value #>> '{}')::bigint, 0
    from jsonb_each(coalesce(share->'questions', '{}')) q,
         jsonb_each(coalesce(q.value->'values', '{}')) v
$$;

create table review.agreement_sums (
  project_id  text    not null,
  question_id text    not null,
  value       text    not null,
  n           bigint  not null,
  total       numeric not null,
  primary key (project_id, question_id, value)
);
create table review.agreement_deltas (
  id          bigint generated always as identity primary key,
  project_id  text  not null,
  before      jsonb,
  after       jsonb
);
create index agreement_deltas_project on review.agreement_deltas (project_id);

-- The changes go to the table named by the trigger's argument: review.agreement_deltas for the
-- live tasks, a rebuild's own for its shadow tasks (review.adapters.rebuild). A change is kept
-- as the two shares; the fold and the report expand them into rows (agreement_rows).
create function review.note_agreement_change() returns trigger language plpgsql as $$
begin
  if tg_argv[0] = 'review.agreement_deltas' then
    if tg_op = 'INSERT' then
      insert into review.agreement_deltas (project_id, after) values (new.project_id, new.agreement);
    elsif tg_op = 'DELETE' then
      insert into review.agreement_deltas (project_id, before) values (old.project_id, old.agreement);
    else
      insert into review.agreement_deltas (project_id, before, after)
        values (new.project_id, old.agreement, new.agreement);
    end if;
  elsif tg_op = 'INSERT' then
    execute format('insert into %s (project_id, after) values ($1, $2)', tg_argv[0])
      using new.project_id, new.agreement;
  elsif tg_op = 'DELETE' then
    execute format('insert into %s (project_id, before) values ($1, $2)', tg_argv[0])
      using old.project_id, old.agreement;
  else
    execute format('insert into %s (project_id, before, after) values ($1, $2, $3)', tg_argv[0])
      using new.project_id, old.agreement, new.agreement;
  end if;
  return null;
end $$;

-- No share may change while the sums are taken and the triggers are made.
lock table review.tasks in share row exclusive mode;
insert into review.agreement_sums (project_id, question_id, value, n, total)
  select t.project_id, r.question_id, r.value, sum(r.n), sum(r.total)
    from review.tasks t, review.agreement_rows(t.agreement) r
   where t.agreement is not null
   group by t.project_id, r.question_id, r.value;

create trigger tasks_agreement_on_insert after insert on review.tasks
  for each row when (new.agreement is not null)
  execute function review.note_agreement_change('review.agreement_deltas');
create trigger tasks_agreement_on_update after update of agreement on review.tasks
  for each row when (old.agreement is distinct from new.agreement)
  execute function review.note_agreement_change('review.agreement_deltas');
create trigger tasks_agreement_on_delete after delete on review.tasks
  for each row when (old.agreement is not null)
  execute function review.note_agreement_change('review.agreement_deltas');
