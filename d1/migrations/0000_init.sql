CREATE TABLE `datasets` (
	`id` text PRIMARY KEY NOT NULL,
	`key_id` text NOT NULL,
	`name` text NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`license` text DEFAULT 'other' NOT NULL,
	`visibility` text DEFAULT 'private' NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `datasets_name_unique` ON `datasets` (`name`);--> statement-breakpoint
CREATE INDEX `datasets_key` ON `datasets` (`key_id`);--> statement-breakpoint
CREATE TABLE `jobs` (
	`id` text PRIMARY KEY NOT NULL,
	`key_id` text NOT NULL,
	`dataset_id` text NOT NULL,
	`status` text DEFAULT 'queued' NOT NULL,
	`recipe` text NOT NULL,
	`recipe_sha256` text NOT NULL,
	`idempotency_key` text,
	`upload_id` text,
	`inputs_total` integer NOT NULL,
	`candidates_per_input` integer NOT NULL,
	`inputs_per_task` integer NOT NULL,
	`tasks_planned` integer NOT NULL,
	`fanout_next` integer DEFAULT 0 NOT NULL,
	`tasks_open` integer DEFAULT 0 NOT NULL,
	`candidates_planned` integer NOT NULL,
	`generated` integer DEFAULT 0 NOT NULL,
	`accepted` integer DEFAULT 0 NOT NULL,
	`rejected` integer DEFAULT 0 NOT NULL,
	`failed` integer DEFAULT 0 NOT NULL,
	`input_tokens` integer DEFAULT 0 NOT NULL,
	`output_tokens` integer DEFAULT 0 NOT NULL,
	`cost_usd` real DEFAULT 0 NOT NULL,
	`error` text,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	`started_at` integer,
	`finished_at` integer
);
--> statement-breakpoint
CREATE INDEX `jobs_key` ON `jobs` (`key_id`,`created_at`);--> statement-breakpoint
CREATE UNIQUE INDEX `jobs_idempotency` ON `jobs` (`key_id`,`idempotency_key`);--> statement-breakpoint
CREATE TABLE `keys` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`secret_hash` text NOT NULL,
	`budget_usd` real,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `keys_secret_hash_unique` ON `keys` (`secret_hash`);--> statement-breakpoint
CREATE TABLE `releases` (
	`id` text PRIMARY KEY NOT NULL,
	`dataset_id` text NOT NULL,
	`version` text NOT NULL,
	`parent_id` text,
	`status` text NOT NULL,
	`shard_high` integer NOT NULL,
	`rows` integer DEFAULT 0 NOT NULL,
	`bytes` integer DEFAULT 0 NOT NULL,
	`error` text,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	`published_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `releases_version` ON `releases` (`dataset_id`,`version`);--> statement-breakpoint
CREATE INDEX `releases_dataset` ON `releases` (`dataset_id`,`created_at`);--> statement-breakpoint
CREATE TABLE `shards` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`key` text NOT NULL,
	`job_id` text NOT NULL,
	`dataset_id` text NOT NULL,
	`records` integer NOT NULL,
	`accepted` integer NOT NULL,
	`bytes` integer NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `shards_key_unique` ON `shards` (`key`);--> statement-breakpoint
CREATE INDEX `shards_dataset` ON `shards` (`dataset_id`,`id`);--> statement-breakpoint
CREATE INDEX `shards_job` ON `shards` (`job_id`,`id`);--> statement-breakpoint
CREATE TABLE `tasks` (
	`id` text PRIMARY KEY NOT NULL,
	`job_id` text NOT NULL,
	`seq` integer NOT NULL,
	`attempt` integer DEFAULT 0 NOT NULL,
	`slots` text NOT NULL,
	`state` text DEFAULT 'queued' NOT NULL,
	`lease_id` text,
	`lease_until` integer,
	`shard_id` integer,
	`generated` integer DEFAULT 0 NOT NULL,
	`accepted` integer DEFAULT 0 NOT NULL,
	`rejected` integer DEFAULT 0 NOT NULL,
	`failed` integer DEFAULT 0 NOT NULL,
	`input_tokens` integer DEFAULT 0 NOT NULL,
	`output_tokens` integer DEFAULT 0 NOT NULL,
	`cost_usd` real DEFAULT 0 NOT NULL,
	`filter_counts` text DEFAULT '{}' NOT NULL,
	`last_error` text,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	`finished_at` integer
);
--> statement-breakpoint
CREATE INDEX `tasks_job` ON `tasks` (`job_id`,`state`);--> statement-breakpoint
CREATE INDEX `tasks_shard` ON `tasks` (`shard_id`);--> statement-breakpoint
CREATE TABLE `uploads` (
	`id` text PRIMARY KEY NOT NULL,
	`key_id` text NOT NULL,
	`dataset_id` text NOT NULL,
	`rows` integer NOT NULL,
	`rows_per_chunk` integer NOT NULL,
	`chunks` integer NOT NULL,
	`bytes` integer NOT NULL,
	`fields` text NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL
);
