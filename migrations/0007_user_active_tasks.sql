-- Each user's queued and running tasks, kept by a trigger in the transaction of every change of a task's
-- status: the submit path's cap check reads one row instead of counting a backlog that may hold
-- thousands of tasks, and it is exact under concurrent submissions (the counter row is locked until
-- the submitting transaction commits).
CREATE TABLE user_active_tasks (
  owner_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  active   integer NOT NULL DEFAULT 0
);

CREATE FUNCTION count_active_tasks() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  was_active boolean := TG_OP <> 'INSERT' AND OLD.status IN ('queued', 'running');
  is_active  boolean := TG_OP <> 'DELETE' AND NEW.status IN ('queued', 'running');
BEGIN
  IF TG_OP = 'UPDATE' AND was_active = is_active AND OLD.owner_id = NEW.owner_id THEN
    RETURN NULL;
  END IF;
  IF was_active THEN
    UPDATE user_active_tasks SET active = active - 1 WHERE owner_id = OLD.owner_id;
  END IF;
  IF is_active THEN
    INSERT INTO user_active_tasks (owner_id, active) VALUES (NEW.owner_id, 1)
    ON CONFLICT (owner_id) DO UPDATE SET active = user_active_tasks.active + 1;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER tasks_count_active AFTER INSERT OR DELETE OR UPDATE OF status, owner_id ON tasks
  FOR EACH ROW EXECUTE FUNCTION count_active_tasks();

INSERT INTO user_active_tasks (owner_id, active)
  SELECT owner_id, count(*) FROM tasks WHERE status IN ('queued', 'running') GROUP BY owner_id;
