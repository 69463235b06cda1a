DROP TRIGGER IF EXISTS tasks_count_active ON tasks;
DROP FUNCTION IF EXISTS count_active_tasks();
DROP TABLE IF EXISTS user_active_tasks;
