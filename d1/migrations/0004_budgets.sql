ALTER TABLE `jobs` ADD `mode` text DEFAULT 'live' NOT NULL;--> statement-breakpoint
ALTER TABLE `jobs` ADD `budget_usd` real;--> statement-breakpoint
ALTER TABLE `jobs` ADD `reserved_usd` real DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `jobs` ADD `est_cost_per_candidate` real DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `keys` ADD `rate_limit_per_min` integer;--> statement-breakpoint
ALTER TABLE `tasks` ADD `reserved_usd` real DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `tasks` ADD `provider_batch` text;