-- Job counters are kept by triggers so that they change exactly once per task, in the same
-- transaction as the task's own state change. The consumer only ever moves a task it holds the
-- lease of, so a redelivered message cannot double-count: its UPDATE matches no row.
CREATE TRIGGER `tasks_open_on_insert` AFTER INSERT ON `tasks`
BEGIN
  UPDATE `jobs` SET `tasks_open` = `tasks_open` + 1 WHERE `id` = NEW.`job_id`;
END;
--> statement-breakpoint
CREATE TRIGGER `tasks_settle` AFTER UPDATE OF `state` ON `tasks`
WHEN OLD.`state` IN ('queued', 'running') AND NEW.`state` IN ('done', 'cancelled')
BEGIN
  UPDATE `jobs` SET
    `tasks_open` = `tasks_open` - 1,
    `generated` = `generated` + NEW.`generated`,
    `accepted` = `accepted` + NEW.`accepted`,
    `rejected` = `rejected` + NEW.`rejected`,
    `failed` = `failed` + NEW.`failed`,
    `input_tokens` = `input_tokens` + NEW.`input_tokens`,
    `output_tokens` = `output_tokens` + NEW.`output_tokens`,
    `cost_usd` = `cost_usd` + NEW.`cost_usd`
  WHERE `id` = NEW.`job_id`;
END;
