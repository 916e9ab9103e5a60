-- Budgets: a task reserves money when it is claimed and gives it back when it settles or is
-- requeued. jobs.reserved_usd is kept in step here, in the same statement as the task's change,
-- so the claim's budget check (cost + reserved < budget) never sees a stale sum.
CREATE TRIGGER `tasks_reserve` AFTER UPDATE OF `reserved_usd` ON `tasks`
WHEN NEW.`state` IN ('queued', 'running') AND NEW.`reserved_usd` IS NOT OLD.`reserved_usd`
BEGIN
  UPDATE `jobs` SET `reserved_usd` = `reserved_usd` + NEW.`reserved_usd` - OLD.`reserved_usd` WHERE `id` = NEW.`job_id`;
END;
--> statement-breakpoint
-- Settling (done or cancelled) releases whatever the task still held; its row keeps the figure.
CREATE TRIGGER `tasks_release` AFTER UPDATE OF `state` ON `tasks`
WHEN OLD.`state` IN ('queued', 'running') AND NEW.`state` IN ('done', 'cancelled') AND OLD.`reserved_usd` != 0
BEGIN
  UPDATE `jobs` SET `reserved_usd` = `reserved_usd` - OLD.`reserved_usd` WHERE `id` = NEW.`job_id`;
END;
