ALTER TABLE `tasks` ADD `kind` text DEFAULT 'fanout' NOT NULL;--> statement-breakpoint
ALTER TABLE `tasks` ADD `carry` text;--> statement-breakpoint
ALTER TABLE `tasks` ADD `children` text;--> statement-breakpoint
-- A refill adds candidates the job did not plan at creation (recipe `until`); count them once,
-- when the refill task row is first inserted.
CREATE TRIGGER `tasks_refill_planned` AFTER INSERT ON `tasks`
WHEN NEW.`kind` = 'refill'
BEGIN
  UPDATE `jobs` SET `candidates_planned` = `candidates_planned` + json_array_length(NEW.`slots`) WHERE `id` = NEW.`job_id`;
END;
--> statement-breakpoint
-- Continuations exist exactly when their parent's settle took effect: the settle is the
-- lease-holder's conditional UPDATE, and this trigger runs inside it.
CREATE TRIGGER `tasks_spawn_children` AFTER UPDATE OF `state` ON `tasks`
WHEN OLD.`state` IN ('queued', 'running') AND NEW.`state` = 'done' AND NEW.`children` IS NOT NULL
BEGIN
  INSERT OR IGNORE INTO `tasks` (`id`, `job_id`, `seq`, `kind`, `attempt`, `slots`, `carry`, `last_error`)
  SELECT json_extract(c.value, '$.id'), NEW.`job_id`, NEW.`seq`, json_extract(c.value, '$.kind'), json_extract(c.value, '$.attempt'),
         json_extract(c.value, '$.slots'), json_extract(c.value, '$.carry'), json_extract(c.value, '$.last_error')
  FROM json_each(NEW.`children`) AS c;
END;
