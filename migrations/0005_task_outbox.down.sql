DROP TABLE IF EXISTS task_outbox;
